import pytest

from candlesvc.model.memo import Memo


def test_a_memo_computes_each_key_once():
    calls: list[int] = []

    def double(key: int) -> int:
        calls.append(key)
        return key * 2

    memo = Memo(double)
    assert [memo[k] for k in (1, 2, 1, 2, 3)] == [2, 4, 2, 4, 6]
    assert calls == [1, 2, 3]


def test_a_memo_with_a_limit_empties_itself_when_full():
    memo = Memo(str, limit=3)
    assert [memo[k] for k in range(10)] == [str(k) for k in range(10)]
    assert memo == {9: "9"}  # emptied at 3, 6 and 9


def test_a_memo_keeps_no_refused_key():
    memo: Memo[str, int] = Memo(int)
    with pytest.raises(ValueError, match="invalid literal"):
        memo["x"]
    assert "x" not in memo
