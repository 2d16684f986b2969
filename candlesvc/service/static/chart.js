// The chart page: a stored series as candles and volume, newest first, older pages on scroll.
// Every candle comes from /api/ with the key the user typed, kept in sessionStorage only.
import {
  CandlestickSeries,
  HistogramSeries,
  TickMarkType,
  createChart,
} from './vendor/lightweight-charts/lightweight-charts.standalone.production.mjs';

const PAGE = 1000; // bars per request
const AHEAD = 50; // load older bars once fewer than this many are hidden on the left
const KEY = 'candlesvc.api-key';
const ZONE = 'candlesvc.zone';
const UP = '#26a69a';
const DOWN = '#ef5350';
const MONTHS = ['Jan', 'Feb', 'Mar', 'Apr', 'May', 'Jun', 'Jul', 'Aug', 'Sep', 'Oct', 'Nov', 'Dec'];
const $ = (id) => document.getElementById(id);

const chart = createChart($('chart'), {
  autoSize: true,
  layout: { attributionLogo: false }, // the footer carries the attribution (see VENDOR.md)
  timeScale: { timeVisible: true },
});
const candles = chart.addSeries(CandlestickSeries, {
  upColor: UP, downColor: DOWN, wickUpColor: UP, wickDownColor: DOWN, borderVisible: false,
});
const volume = chart.addSeries(HistogramSeries, { priceFormat: { type: 'volume' } }, 1);
chart.panes()[1].setStretchFactor(0.25);

// What the page shows; tests read it through window.candlesvcPage.
const state = {
  catalogue: [], series: null, bars: [], byTime: new Map(), cursor: null,
  exhausted: true, loading: false, pages: 0, generation: 0, zone: 'UTC',
};
window.candlesvcPage = { chart, candles, volume, state };

class ApiError extends Error {
  constructor(status, message) {
    super(message);
    this.status = status;
  }
}

/** GET an /api/ path with the session's key; a refusal becomes an ApiError with a message. */
async function api(path) {
  const key = sessionStorage.getItem(KEY);
  if (!key) throw new ApiError(401, 'Enter an API key to see the stored series.');
  let response;
  try {
    response = await fetch(path, { headers: { 'X-API-KEY': key }, cache: 'no-store' });
  } catch (error) {
    throw new ApiError(0, `The service did not answer: ${error.message}`);
  }
  if (response.ok) return response.json();
  const problem = await response.json().catch(() => ({}));
  const detail = problem.detail || response.statusText;
  if (response.status === 401) {
    sessionStorage.removeItem(KEY);
    throw new ApiError(401, `The service refused the key (401: ${detail}). Enter a valid key.`);
  }
  if (response.status === 429) throw new ApiError(429, `Too many requests (429): ${detail}.`);
  throw new ApiError(response.status, `The service answered ${response.status}: ${detail}`);
}

function say(text, kind = 'info') {
  $('status').textContent = text;
  $('status').dataset.kind = kind;
}

function fail(error) {
  say(error.message, 'error');
  if (error.status === 401) forgetData();
}

/** Remove every series and bar from the page. */
function forgetData() {
  state.generation += 1;
  Object.assign(state, { catalogue: [], series: null, bars: [], cursor: null, loading: false });
  state.byTime.clear();
  $('series').replaceChildren();
  $('series').disabled = true;
  $('legend').textContent = '';
  candles.setData([]);
  volume.setData([]);
}

/** List the stored series and show the first. */
async function loadCatalogue() {
  forgetData();
  say('Loading the series…');
  try {
    state.catalogue = (await api('api/v1/series')).series;
  } catch (error) {
    fail(error);
    return;
  }
  state.catalogue.forEach((s, i) => {
    $('series').add(new Option(`${s.symbol} ${s.timeframe} (${s.bars} bars)`, i));
  });
  $('series').disabled = state.catalogue.length === 0;
  if (state.catalogue.length === 0) say('No candles are stored yet.');
  else await showSeries(state.catalogue[0]);
}

/** Show a series from its newest page. */
async function showSeries(series) {
  state.generation += 1;
  Object.assign(state, { series, bars: [], cursor: null, exhausted: false, loading: false });
  state.pages = 0;
  state.byTime.clear();
  candles.setData([]);
  volume.setData([]);
  await loadOlder();
}

/** Fetch the page before the oldest bar shown, and draw it. */
async function loadOlder() {
  if (state.loading || state.exhausted || !state.series) return;
  const generation = state.generation;
  const { symbol, timeframe } = state.series;
  const query = new URLSearchParams({ symbol, timeframe, order: 'desc', limit: PAGE });
  if (state.cursor) query.set('cursor', state.cursor);
  state.loading = true;
  say(`Loading ${symbol} ${timeframe}…`);
  try {
    const page = await api(`api/v1/candles?${query}`);
    if (generation !== state.generation) return;
    const oldest = state.bars.length ? state.bars[0].time : Infinity;
    const older = page.candles.map(toBar).filter((bar) => bar.time < oldest).reverse();
    state.bars = older.concat(state.bars);
    older.forEach((bar) => state.byTime.set(bar.time, bar));
    Object.assign(state, { cursor: page.next_cursor, exhausted: !page.next_cursor });
    state.pages += 1;
    draw();
    if (state.pages === 1) chart.timeScale().resetTimeScale(); // the newest bars, at the right
  } catch (error) {
    if (generation === state.generation) fail(error);
    return;
  } finally {
    if (generation === state.generation) state.loading = false;
  }
  const range = chart.timeScale().getVisibleLogicalRange();
  if (range && range.from < AHEAD) await loadOlder(); // the view still reaches past the data
}

function toBar(candle) {
  const [open, high, low, close] = [candle.open, candle.high, candle.low, candle.close].map(Number);
  return { time: Date.parse(candle.timestamp) / 1000, open, high, low, close, candle };
}

const ohlc = ({ time, open, high, low, close }) => ({ time, open, high, low, close });
const faded = (bar) => (bar.close >= bar.open ? `${UP}80` : `${DOWN}80`);
const traded = (bar) => ({ time: bar.time, value: bar.candle.volume, color: faded(bar) });

function draw() {
  candles.setData(state.bars.map(ohlc));
  volume.setData(state.bars.map(traded));
  let precision = 0;
  for (const bar of state.bars) precision = Math.min(10, Math.max(precision, decimals(bar.candle)));
  candles.applyOptions({ priceFormat: { type: 'price', precision, minMove: 10 ** -precision } });
  const { symbol, timeframe, bars } = state.series;
  const more = state.exhausted ? 'all of them' : 'scroll left for older bars';
  say(`${symbol} ${timeframe}: ${state.bars.length} of ${bars} bars loaded, ${more}.`);
  legend();
}

/** The most decimal places in a candle's prices, as stored. */
function decimals(candle) {
  return Math.max(...[candle.open, candle.high, candle.low, candle.close].map((price) => {
    const dot = price.indexOf('.');
    return dot < 0 ? 0 : price.length - dot - 1;
  }));
}

/** The bar under the crosshair (or the newest), with its prices exactly as stored. */
function legend(time) {
  const bar = state.byTime.get(time) ?? state.bars[state.bars.length - 1];
  if (!bar) return;
  const c = bar.candle;
  $('legend').textContent = `${state.series.symbol} ${state.series.timeframe}  `
    + `${stamp(bar.time)} ${state.zone}  O ${c.open}  H ${c.high}  L ${c.low}  C ${c.close}  `
    + `V ${c.volume}`;
}

/** A UTC timestamp's fields on the chosen zone's clock. */
function fields(time) {
  const parts = zoneFormat.formatToParts(new Date(time * 1000));
  return Object.fromEntries(parts.map((part) => [part.type, part.value]));
}

/** A time as YYYY-MM-DD HH:MM[:SS] in the chosen zone (the crosshair's label). */
function stamp(time) {
  const f = fields(time);
  const seconds = f.second === '00' ? '' : `:${f.second}`;
  return `${f.year}-${f.month}-${f.day} ${f.hour}:${f.minute}${seconds}`;
}

/** An axis label in the chosen zone; a mark that is not at midnight there shows its time. */
function tickMark(time, type) {
  const f = fields(time);
  const hhmm = `${f.hour}:${f.minute}`;
  const date = `${Number(f.day)} ${MONTHS[f.month - 1]}`;
  if (type === TickMarkType.Time) return hhmm;
  if (type === TickMarkType.TimeWithSeconds) return `${hhmm}:${f.second}`;
  if (hhmm !== '00:00') return `${date} ${hhmm}`;
  if (type === TickMarkType.Year) return f.year;
  return type === TickMarkType.Month ? MONTHS[f.month - 1] : date;
}

let zoneFormat;

/** Label the axis, crosshair and legend in `zone`; false if it is no IANA zone. */
function useZone(zone) {
  try {
    zoneFormat = new Intl.DateTimeFormat('en-GB', {
      timeZone: zone, hourCycle: 'h23', year: 'numeric', month: '2-digit', day: '2-digit',
      hour: '2-digit', minute: '2-digit', second: '2-digit',
    });
  } catch {
    return false;
  }
  state.zone = zoneFormat.resolvedOptions().timeZone;
  $('zone').value = state.zone;
  sessionStorage.setItem(ZONE, state.zone);
  chart.applyOptions({
    localization: { timeFormatter: stamp },
    timeScale: { tickMarkFormatter: tickMark },
  });
  legend();
  return true;
}

function chooseZone(zone) {
  if (zone.trim() && !useZone(zone.trim())) {
    say(`"${zone}" is not a time zone: type an IANA name such as Europe/Athens, or UTC.`, 'error');
    $('zone').value = state.zone;
  }
}

function start() {
  const browser = Intl.DateTimeFormat().resolvedOptions().timeZone;
  const zones = ['UTC', browser, ...Intl.supportedValuesOf('timeZone')];
  $('zones').replaceChildren(...[...new Set(zones)].map((zone) => new Option(zone)));
  if (!useZone(sessionStorage.getItem(ZONE) || 'UTC')) useZone('UTC');
  $('zone').addEventListener('change', () => chooseZone($('zone').value));
  $('browser-zone').addEventListener('click', () => chooseZone(browser));
  $('key-form').addEventListener('submit', (event) => {
    event.preventDefault();
    const key = $('key').value.trim();
    $('key').value = '';
    if (key) {
      sessionStorage.setItem(KEY, key);
      loadCatalogue();
    } else say('Type an API key first.', 'error');
  });
  $('forget').addEventListener('click', () => {
    sessionStorage.removeItem(KEY);
    forgetData();
    say('The key is forgotten. Enter an API key to see the stored series.');
  });
  $('series').addEventListener('change', () => showSeries(state.catalogue[$('series').value]));
  chart.subscribeCrosshairMove((param) => legend(param.time));
  chart.timeScale().subscribeVisibleLogicalRangeChange((range) => {
    if (range && range.from < AHEAD) loadOlder();
  });
  if (sessionStorage.getItem(KEY)) loadCatalogue();
}

start();
