//+------------------------------------------------------------------+
//| CandleSync.mq5 - reference Expert Advisor for candlesvc           |
//|                                                                  |
//| For each configured symbol and timeframe (a "stream") it          |
//|  1. asks GET /api/v1/candles/latest what the service has stored,  |
//|  2. backfills the closed bars that are missing, in batches,       |
//|  3. then posts every bar as soon as it closes.                    |
//| The forming bar is never sent unless InpSendFormingBar is on;     |
//| then every POST uses ?on_conflict=update, so the stored partial   |
//| bar is corrected by later versions and finally by the closed bar. |
//| After every start the newest stored bar is sent once more, in     |
//| update mode, in case it was stored while forming.                 |
//|                                                                  |
//| Bar times (MqlRates.time) are the broker's server wall-clock time |
//| and are sent as they are, as integers, together with "source_tz": |
//| the service converts them to UTC with the zone's rule for the     |
//| date of each bar, so history from before a DST switch is right.   |
//| Symbols are stored under InpSymbolMap's names, or without         |
//| InpStripSuffix, so that one instrument has one stored name.       |
//|                                                                  |
//| Bars are copied only while the terminal is connected and the      |
//| series is synchronized with the trade server, and only when the   |
//| copy holds every bar the terminal counts in that range.           |
//|                                                                  |
//| All network work happens in OnTimer, which spends at most         |
//| InpTimeoutMs in WebRequest; the stream that goes first changes    |
//| with every timer event. Each stream has its own retry state:      |
//|  - a failure pauses that stream 1, 2, 4 ... InpMaxBackoffSec s,   |
//|    and a 429 or 503 pauses every stream for its Retry-After;      |
//|  - a 413 or 422 is never retried as it was: the batch is halved   |
//|    until the refused bar is alone; it is logged and skipped;      |
//|  - a 422 on latest (a name or zone the service refuses) stops     |
//|    that stream only.                                              |
//| Bars whose answer was lost are sent again (stored once: the       |
//| service counts them as duplicates).                               |
//|                                                                  |
//| Add InpServiceUrl under Tools > Options > Expert Advisors >       |
//| "Allow WebRequest for listed URL". WebRequest does not work in    |
//| the Strategy Tester. Set-up and inputs: docs/mt5.md.              |
//+------------------------------------------------------------------+
#property copyright   "candlesvc"
#property version     "1.10"
#property description "Sends closed OHLC bars to candlesvc (see docs/mt5.md)."
#property description "Allow the service URL under Tools > Options > Expert Advisors."

input string InpServiceUrl     = "http://127.0.0.1:8000"; // candlesvc URL, without a trailing /
input string InpApiKey         = "";                      // API key, sent as X-API-KEY
input string InpSymbols        = "";                      // Symbols, comma-separated (empty: this chart's)
input string InpSymbolMap      = "";                      // Stored names: broker=stored, comma-separated
input string InpStripSuffix    = "";                      // Suffix to strip for the stored name, e.g. .pro
input string InpTimeframes     = "M1";                    // Timeframes, comma-separated: M1 ... H1 ... MN1
input string InpServerTimeZone = "NY+7";                  // Broker clock: NY+7, an IANA name, +02:00, or auto
input bool   InpSendFormingBar = false;                   // Also send the forming bar (update mode)
input int    InpBatchSize      = 1000;                    // Bars per POST (at most the service's MAX_BATCH)
input int    InpBackfillBars   = 10000;                   // Bars to send when nothing is stored yet
input int    InpTimeoutMs      = 5000;                    // Longest wait per timer event, 1000-60000 ms
input int    InpMaxBackoffSec  = 300;                     // Longest pause after failures, in seconds
input int    InpTimerSeconds   = 1;                       // How often to look for new bars, in seconds

//--- the 21 MT5 timeframes, by the names the service uses
string          g_tf_names[]  = {"M1", "M2", "M3", "M4", "M5", "M6", "M10", "M12", "M15", "M20",
                                 "M30", "H1", "H2", "H3", "H4", "H6", "H8", "H12", "D1", "W1", "MN1"};
ENUM_TIMEFRAMES g_tf_values[] = {PERIOD_M1, PERIOD_M2, PERIOD_M3, PERIOD_M4, PERIOD_M5, PERIOD_M6,
                                 PERIOD_M10, PERIOD_M12, PERIOD_M15, PERIOD_M20, PERIOD_M30,
                                 PERIOD_H1, PERIOD_H2, PERIOD_H3, PERIOD_H4, PERIOD_H6, PERIOD_H8,
                                 PERIOD_H12, PERIOD_D1, PERIOD_W1, PERIOD_MN1};

//--- one symbol and timeframe to keep in sync
struct Stream
  {
   string            symbol;       // the broker's name, for the terminal
   string            stored;       // the name the service stores it under
   string            name;         // timeframe name, e.g. "M1"
   ENUM_TIMEFRAMES   period;
   bool              resumed;      // the service has told us what it stores
   datetime          sent;         // server time of the newest bar known stored (0: none)
   bool              refresh;      // POST in update mode until the stored bar was sent again
   MqlRates          forming;      // the forming bar as last sent (update mode)
   datetime          refused;      // a forming bar the service refused: not sent again
   bool              waiting;      // "waiting for the terminal's history" has been logged
   bool              stopped;      // the service refuses this stream: no more requests
   int               limit;        // most bars per POST the service takes (halved on 413)
   int               batch;        // bars per POST now (halved to find a refused bar)
   int               backoff;      // seconds of the last pause after a failure
   ulong             retry_at;     // GetTickCount64() before which this stream waits
  };

Stream g_streams[];
int    g_turn     = 0;   // the stream that goes first in the next timer event
ulong  g_paused   = 0;   // GetTickCount64() before which no stream asks (Retry-After)
ulong  g_deadline = 0;   // end of the current timer event's time budget
int    g_error    = 0;   // GetLastError() right after the last WebRequest

//+------------------------------------------------------------------+
int OnInit()
  {
   if(MQLInfoInteger(MQL_TESTER))
     {
      Print("CandleSync: WebRequest does not work in the Strategy Tester");
      return(INIT_FAILED);
     }
   string problem = InputProblem();
   if(problem == "")
      problem = ParseStreams();
   if(problem != "")
     {
      Print("CandleSync: ", problem);
      return(INIT_PARAMETERS_INCORRECT);
     }
   if(InpServerTimeZone == "auto")
      Print("CandleSync: source_tz=auto sends the broker's current UTC offset; bars from before "
            "its last DST change are then stored shifted. Prefer NY+7 or an IANA name.");
   PrintFormat("CandleSync: %d stream(s) to %s, server time zone %s%s", ArraySize(g_streams),
               InpServiceUrl, Zone(), InpSendFormingBar ? ", forming bar in update mode" : "");
   if(!EventSetTimer(InpTimerSeconds))
     {
      PrintFormat("CandleSync: EventSetTimer(%d) failed, error %d", InpTimerSeconds,
                  GetLastError());
      return(INIT_FAILED);
     }
   return(INIT_SUCCEEDED);
  }

void OnDeinit(const int reason) { EventKillTimer(); }

void OnTick() { }   // nothing to do per tick: OnTimer looks for closed bars

//+------------------------------------------------------------------+
//| Give each stream its turn until the time budget is used; the      |
//| stream that goes first changes with every timer event             |
//+------------------------------------------------------------------+
void OnTimer()
  {
   int n = ArraySize(g_streams);
   int first = g_turn;
   g_turn = (g_turn + 1) % n;
   g_deadline = GetTickCount64() + (ulong)InpTimeoutMs;
   for(int k = 0; k < n && Remaining() >= InpTimeoutMs / 2; k++)
      Work(g_streams[(first + k) % n]);
  }

//--- one stream's requests until it is idle, fails, or the budget is used
void Work(Stream &s)
  {
   int result = 1;
   while(result > 0 && MayAsk(s) && Remaining() >= InpTimeoutMs / 2)
      result = Step(s);
  }

//--- not stopped, not pausing after its own failure, nor after a Retry-After
bool MayAsk(const Stream &s)
  {
   ulong now = GetTickCount64();
   return(!s.stopped && now >= s.retry_at && now >= g_paused);
  }

//--- one request's worth of work: 1 done (maybe more to do), 0 idle, -1 failed
int Step(Stream &s)
  {
   if(!s.resumed)
      return(AskLatest(s));
   MqlRates bars[];
   int count = PendingBars(s, bars);
   if(count > 0)
      return(SendBars(s, bars, count));
   if(count == 0 && InpSendFormingBar)
      return(SendForming(s));
   return(0);
  }

//+------------------------------------------------------------------+
//| Resume: where does the stored history of this stream end?         |
//+------------------------------------------------------------------+
int AskLatest(Stream &s)
  {
   string url = InpServiceUrl + "/api/v1/candles/latest?symbol=" + UrlEncode(s.stored)
                + "&timeframe=" + s.name + "&source_tz=" + UrlEncode(Zone());
   string answer, headers;
   int status = Http("GET", url, "", answer, headers);
   if(status == 404)
     {
      s.sent = 0;                                     // nothing stored: backfill
      PrintFormat("CandleSync: %s %s: nothing stored yet, backfilling up to %d bars",
                  s.symbol, s.name, InpBackfillBars);
     }
   else if(status == 200 && JsonInteger(answer, "server_time") > 0)
     {
      s.sent = (datetime)JsonInteger(answer, "server_time");
      PrintFormat("CandleSync: %s %s: stored up to %s (server time)", s.symbol, s.name,
                  TimeToString(s.sent));
      s.sent -= 1;            // it may be a partial bar, from update mode: send it again
      s.refresh = true;       // in update mode, so that it is corrected
     }
   else if(status == 422)
      return(Stop(s, answer));
   else
      return(Failed(s, "latest", status, answer, headers));
   s.resumed = true;
   s.forming.time = 0;
   s.backoff = 0;
   return(1);
  }

//--- the service refuses this stream's symbol, timeframe or zone: log it and stop the stream
int Stop(Stream &s, const string answer)
  {
   s.stopped = true;
   PrintFormat("CandleSync: %s %s: the service refuses this stream, HTTP 422 %s; it is stopped "
               "(check InpSymbolMap and InpServerTimeZone)", s.symbol, s.name, answer);
   return(0);
  }

//+------------------------------------------------------------------+
//| History: only bars the terminal holds complete and in sync        |
//+------------------------------------------------------------------+
//--- the oldest closed bars after s.sent, at most s.batch, oldest first: how many;
//--- 0 when none is pending, -1 while the terminal's history is not complete
int PendingBars(Stream &s, MqlRates &bars[])
  {
   if(!TerminalInfoInteger(TERMINAL_CONNECTED)
      || !SeriesInfoInteger(s.symbol, s.period, SERIES_SYNCHRONIZED))
      return(Waiting(s, "the terminal is not connected, or its history is not in sync"));
   datetime forming = iTime(s.symbol, s.period, 0);
   datetime from = FirstPending(s);
   if(forming == 0 || from == 0 || from >= forming)
      return(Ready(s, 0));
   int pending = Bars(s.symbol, s.period, from, forming - 1);  // closed bars from `from` on
   if(pending <= 0)
      return(Ready(s, 0));
   int count = MathMin(pending, s.batch);
   datetime stop = iTime(s.symbol, s.period, pending - count + 1);  // the newest bar to send
   int copied = CopyRates(s.symbol, s.period, from, stop, bars);
   if(copied != count || bars[0].time < from || bars[copied - 1].time != stop)
      return(Waiting(s, StringFormat("%d of %d bars from %s copied", MathMax(copied, 0), count,
                                     TimeToString(from))));
   return(Ready(s, count));
  }

//--- the first bar time to send: after s.sent, or InpBackfillBars back when nothing is
//--- stored; never before the oldest bar the terminal holds (0: no history yet)
datetime FirstPending(const Stream &s)
  {
   int available = Bars(s.symbol, s.period);
   if(available < 2)
      return(0);
   datetime oldest = iTime(s.symbol, s.period, available - 1);
   datetime from = s.sent + 1;
   if(s.sent == 0)
      from = iTime(s.symbol, s.period, MathMin(InpBackfillBars, available - 1));
   return(from < oldest ? oldest : from);
  }

//--- log once that the stream waits for the terminal's history; returns -1
int Waiting(Stream &s, const string why)
  {
   if(!s.waiting)
      PrintFormat("CandleSync: %s %s: waiting: %s", s.symbol, s.name, why);
   s.waiting = true;
   return(-1);
  }

//--- log once that the history is complete again; returns count
int Ready(Stream &s, int count)
  {
   if(s.waiting)
      PrintFormat("CandleSync: %s %s: history in sync, resuming", s.symbol, s.name);
   s.waiting = false;
   return(count);
  }

//+------------------------------------------------------------------+
//| POST the first `count` bars; remember the last one as stored      |
//+------------------------------------------------------------------+
int SendBars(Stream &s, const MqlRates &bars[], int count)
  {
   string answer, headers;
   int status = Http("POST", PostUrl(s), BatchJson(s, bars, count), answer, headers);
   if(status == 413 || status == 422)
      return(Refused(s, bars, count, status, answer));
   if(status != 201)
      return(Failed(s, "POST", status, answer, headers));
   s.sent = bars[count - 1].time;
   s.refresh = false;
   s.backoff = 0;
   PrintFormat("CandleSync: %s %s: %d bar(s) %s .. %s: %s", s.symbol, s.name, count,
               TimeToString(bars[0].time), TimeToString(s.sent), answer);
   return(1);
  }

//--- a 413 or 422 will never be taken: halve the batch until the refused bar is alone,
//--- then skip it, so that the bars after it still go; a 413 also lowers s.limit for good
int Refused(Stream &s, const MqlRates &bars[], int count, int status, const string answer)
  {
   bool first = (status == 413) ? s.limit == InpBatchSize : s.batch == s.limit;
   if(status == 413)
      s.limit = MathMax(1, count / 2);
   if(count > 1)
     {
      s.batch = MathMin(s.limit, count / 2);
      if(first)
         PrintFormat("CandleSync: %s %s: %d bar(s) from %s refused, HTTP %d %s; retrying %d at "
                     "a time%s", s.symbol, s.name, count, TimeToString(bars[0].time), status,
                     answer, s.batch, status == 413 ? " (lower InpBatchSize to MAX_BATCH)" : "");
      return(1);
     }
   PrintFormat("CandleSync: %s %s: bar %s refused, HTTP %d %s; skipped", s.symbol, s.name,
               TimeToString(bars[0].time), status, answer);
   s.sent = bars[0].time;
   s.batch = s.limit;
   return(1);
  }

//--- update mode: POST the forming bar when it changed; 0 done, -1 failed
int SendForming(Stream &s)
  {
   MqlRates bar[];
   if(CopyRates(s.symbol, s.period, 0, 1, bar) != 1 || bar[0].time == s.refused)
      return(0);
   if(bar[0].time == s.forming.time && bar[0].close == s.forming.close
      && bar[0].high == s.forming.high && bar[0].low == s.forming.low
      && bar[0].tick_volume == s.forming.tick_volume)
      return(0);                                      // unchanged since the last POST
   string answer, headers;
   int status = Http("POST", PostUrl(s), BatchJson(s, bar, 1), answer, headers);
   if(status == 413 || status == 422)
     {
      s.refused = bar[0].time;                        // it goes again, closed, with the others
      PrintFormat("CandleSync: %s %s: forming bar %s refused, HTTP %d %s", s.symbol, s.name,
                  TimeToString(bar[0].time), status, answer);
      return(0);
     }
   if(status != 201)
      return(Failed(s, "POST forming bar", status, answer, headers));
   s.forming = bar[0];
   s.backoff = 0;
   return(0);
  }

//--- update mode while the forming bar is sent, and until the newest stored bar was sent again
string PostUrl(const Stream &s)
  {
   bool update = InpSendFormingBar || s.refresh;
   return(InpServiceUrl + "/api/v1/candles" + (update ? "?on_conflict=update" : ""));
  }

//--- {"source_tz":"NY+7","candles":[{"symbol":"EURUSD","timeframe":"M1","timestamp":...},...]}
string BatchJson(const Stream &s, const MqlRates &bars[], int count)
  {
   int digits = (int)SymbolInfoInteger(s.symbol, SYMBOL_DIGITS);
   string json = "{\"source_tz\":\"" + JsonEscape(Zone()) + "\",\"candles\":[";
   for(int i = 0; i < count; i++)
     {
      if(i > 0)
         json += ",";
      json += "{\"symbol\":\"" + JsonEscape(s.stored) + "\",\"timeframe\":\"" + s.name
              + "\",\"timestamp\":" + IntegerToString((long)bars[i].time)
              + ",\"open\":" + DoubleToString(bars[i].open, digits)
              + ",\"high\":" + DoubleToString(bars[i].high, digits)
              + ",\"low\":" + DoubleToString(bars[i].low, digits)
              + ",\"close\":" + DoubleToString(bars[i].close, digits)
              + ",\"volume\":" + IntegerToString(bars[i].tick_volume) + "}";
     }
   return(json + "]}");
  }

//+------------------------------------------------------------------+
//| One HTTP request within the time budget; returns the HTTP status  |
//| or -1 (then g_error holds GetLastError()); `headers` gets the     |
//| answer's headers.                                                 |
//+------------------------------------------------------------------+
int Http(const string method, const string url, const string json, string &answer,
         string &headers)
  {
   char data[], result[];
   string sent = "X-API-KEY: " + InpApiKey + "\r\n";
   if(json != "")
     {
      sent = "Content-Type: application/json\r\n" + sent;
      int n = StringToCharArray(json, data, 0, WHOLE_ARRAY, CP_UTF8);
      ArrayResize(data, n - 1);                       // drop the terminating NUL: send JSON only
     }
   ResetLastError();
   int status = WebRequest(method, url, sent, MathMax(1, Remaining()), data, result, headers);
   g_error = GetLastError();
   answer = CharArrayToString(result, 0, WHOLE_ARRAY, CP_UTF8);
   return(status);
  }

//--- log the failure; this stream pauses 1, 2, 4 ... InpMaxBackoffSec seconds, and for a
//--- 429 or 503 with Retry-After every stream pauses that long
int Failed(Stream &s, const string what, int status, const string answer,
           const string headers)
  {
   s.backoff = MathMin(MathMax(1, s.backoff * 2), InpMaxBackoffSec);
   int wait = (status == 429 || status == 503) ? RetryAfter(headers) : 0;
   if(wait > 0)
      g_paused = GetTickCount64() + (ulong)wait * 1000;
   else
      wait = s.backoff;
   s.retry_at = GetTickCount64() + (ulong)wait * 1000;
   if(status == -1)
      PrintFormat("CandleSync: %s %s: %s failed, error %d%s; retrying in %d s", s.symbol, s.name,
                  what, g_error, g_error == 4014 ? " (add " + InpServiceUrl
                  + " under Tools > Options > Expert Advisors)" : "", wait);
   else
      PrintFormat("CandleSync: %s %s: %s answered HTTP %d %s; retrying in %d s%s", s.symbol,
                  s.name, what, status, answer, wait,
                  g_paused > GetTickCount64() ? " (Retry-After: all streams wait)" : "");
   return(-1);
  }

//--- the seconds of a "Retry-After: N" answer header, or 0
int RetryAfter(string headers)
  {
   StringToLower(headers);
   int at = StringFind("\n" + headers, "\nretry-after:");
   return(at < 0 ? 0 : (int)MathMax(0, DigitsAt(headers, at + 12)));
  }

int Remaining()
  {
   ulong now = GetTickCount64();
   return(now >= g_deadline ? 0 : (int)(g_deadline - now));
  }

//--- source_tz: the input, or for "auto" the broker's current offset from UTC, e.g. "+03:00"
string Zone()
  {
   if(InpServerTimeZone != "auto")
      return(InpServerTimeZone);
   long offset = (long)TimeTradeServer() - (long)TimeGMT();   // signed: negative west of UTC
   int quarters = (int)MathRound(offset / 900.0);
   int minutes = MathAbs(quarters) * 15;
   return(StringFormat("%s%02d:%02d", quarters < 0 ? "-" : "+", minutes / 60, minutes % 60));
  }

//+------------------------------------------------------------------+
//| Inputs: checked in OnInit; one stream per symbol and timeframe    |
//+------------------------------------------------------------------+
//--- "" when the inputs can work, else what to change
string InputProblem()
  {
   string url = InpServiceUrl;
   if(StringFind(url, "http://") != 0 && StringFind(url, "https://") != 0)
      return("InpServiceUrl must start with http:// or https://, e.g. http://127.0.0.1:8000");
   if(StringSubstr(url, StringLen(url) - 1) == "/")
      return("InpServiceUrl must not end with /: the EA adds /api/v1/... to it");
   if(HasBlank(url) || StringFind(url, "?") >= 0 || StringFind(url, "#") >= 0)
      return("InpServiceUrl must be the service's address only, without blanks, ? or #");
   if(InpApiKey == "" || HasBlank(InpApiKey))
      return("InpApiKey must be one of the service's MT5_API_KEY keys");
   string pairs[];
   int np = StringSplit(InpSymbolMap, ',', pairs);
   for(int i = 0; i < np; i++)
      if(Trim(pairs[i]) != "" && (MapKey(pairs[i]) == "" || MapValue(pairs[i]) == ""))
         return("InpSymbolMap: '" + Trim(pairs[i]) + "' is not broker=stored, e.g. GOLD=XAUUSD");
   if(InpServerTimeZone == "" || HasBlank(InpServerTimeZone))
      return("InpServerTimeZone must be NY+7, an IANA name, an offset such as +02:00, or auto");
   if(InpBatchSize < 1)
      return("InpBatchSize must be at least 1 (and at most the service's MAX_BATCH)");
   if(InpBackfillBars < 1)
      return("InpBackfillBars must be at least 1");
   if(InpTimeoutMs < 1000 || InpTimeoutMs > 60000)
      return("InpTimeoutMs must be between 1000 and 60000");
   if(InpMaxBackoffSec < 1)
      return("InpMaxBackoffSec must be at least 1");
   if(InpTimerSeconds < 1)
      return("InpTimerSeconds must be at least 1");
   return("");
  }

//--- one stream per symbol and timeframe; "" or what is wrong
string ParseStreams()
  {
   string symbols[], frames[];
   int ns = StringSplit(InpSymbols == "" ? _Symbol : InpSymbols, ',', symbols);
   int nf = StringSplit(InpTimeframes, ',', frames);
   ArrayResize(g_streams, 0);
   for(int i = 0; i < ns; i++)
     {
      string symbol = Trim(symbols[i]);
      if(symbol == "")
         continue;
      if(!SymbolSelect(symbol, true))
         return("InpSymbols: unknown symbol '" + symbol + "'");
      string stored = StoredName(symbol);
      if(stored != symbol)
         PrintFormat("CandleSync: %s is stored as %s", symbol, stored);
      for(int j = 0; j < nf; j++)
        {
         string problem = AddStream(symbol, stored, Trim(frames[j]));
         if(problem != "")
            return(problem);
        }
     }
   return(ArraySize(g_streams) > 0 ? "" : "InpSymbols and InpTimeframes name no stream");
  }

string AddStream(const string symbol, const string stored, string name)
  {
   StringToUpper(name);
   for(int i = 0; i < ArraySize(g_streams); i++)
      if(g_streams[i].stored == stored && g_streams[i].name == name)
         return(g_streams[i].symbol + " and " + symbol + " would both be stored as " + stored
                + " " + name + ": give them different names in InpSymbolMap");
   for(int k = 0; k < ArraySize(g_tf_names); k++)
      if(g_tf_names[k] == name)
        {
         int n = ArraySize(g_streams);
         ArrayResize(g_streams, n + 1);
         g_streams[n].symbol = symbol;
         g_streams[n].stored = stored;
         g_streams[n].name = name;
         g_streams[n].period = g_tf_values[k];
         g_streams[n].resumed = false;
         g_streams[n].sent = 0;
         g_streams[n].refresh = false;
         g_streams[n].forming.time = 0;
         g_streams[n].refused = 0;
         g_streams[n].waiting = false;
         g_streams[n].stopped = false;
         g_streams[n].limit = InpBatchSize;
         g_streams[n].batch = InpBatchSize;
         g_streams[n].backoff = 0;
         g_streams[n].retry_at = 0;
         return("");
        }
   return("InpTimeframes: unknown timeframe '" + name + "' (use M1 ... H1 ... MN1)");
  }

//--- the name the service stores a broker symbol under: its InpSymbolMap entry, else the
//--- symbol without InpStripSuffix
string StoredName(const string symbol)
  {
   string pairs[];
   int n = StringSplit(InpSymbolMap, ',', pairs);
   for(int i = 0; i < n; i++)
      if(MapKey(pairs[i]) == symbol)
         return(MapValue(pairs[i]));
   int cut = StringLen(symbol) - StringLen(InpStripSuffix);
   if(InpStripSuffix != "" && cut > 0 && StringSubstr(symbol, cut) == InpStripSuffix)
      return(StringSubstr(symbol, 0, cut));
   return(symbol);
  }

//--- the two sides of a broker=stored entry of InpSymbolMap ("" when there is no =)
string MapKey(const string pair)
  {
   int eq = StringFind(pair, "=");
   return(eq < 0 ? "" : Trim(StringSubstr(pair, 0, eq)));
  }

string MapValue(const string pair)
  {
   int eq = StringFind(pair, "=");
   return(eq < 0 ? "" : Trim(StringSubstr(pair, eq + 1)));
  }

//+------------------------------------------------------------------+
//| Small text helpers                                                |
//+------------------------------------------------------------------+
string Trim(string text)
  {
   StringTrimLeft(text);
   StringTrimRight(text);
   return(text);
  }

//--- a space, tab, line break or other control character anywhere in the text
bool HasBlank(const string text)
  {
   for(int i = 0; i < StringLen(text); i++)
      if(StringGetCharacter(text, i) <= ' ')
         return(true);
   return(false);
  }

//--- percent-encode every UTF-8 byte except A-Z a-z 0-9 - _ . ~
string UrlEncode(const string text)
  {
   uchar bytes[];
   int n = StringToCharArray(text, bytes, 0, WHOLE_ARRAY, CP_UTF8) - 1;
   string out = "";
   for(int i = 0; i < n; i++)
     {
      uchar b = bytes[i];
      bool plain = (b >= 'A' && b <= 'Z') || (b >= 'a' && b <= 'z') || (b >= '0' && b <= '9')
                   || b == '-' || b == '_' || b == '.' || b == '~';
      out += plain ? CharToString(b) : StringFormat("%%%02X", b);
     }
   return(out);
  }

string JsonEscape(string text)
  {
   StringReplace(text, "\\", "\\\\");
   StringReplace(text, "\"", "\\\"");
   return(text);
  }

//--- the integer after "name": in a flat JSON answer, or -1
long JsonInteger(const string json, const string name)
  {
   int at = StringFind(json, "\"" + name + "\":");
   return(at < 0 ? -1 : DigitsAt(json, at + StringLen(name) + 3));
  }

//--- the digits at `at`, after any spaces, as a number; -1 when there are none
long DigitsAt(const string text, int at)
  {
   while(StringGetCharacter(text, at) == ' ')
      at++;
   int end = at;
   while(end < StringLen(text) && StringGetCharacter(text, end) >= '0'
         && StringGetCharacter(text, end) <= '9')
      end++;
   return(end > at ? StringToInteger(StringSubstr(text, at, end - at)) : -1);
  }
//+------------------------------------------------------------------+
