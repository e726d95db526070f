/**
 * The part of parse-prometheus-text-format 1.1 the specs use (it ships no types). Values
 * are strings, as in the text. Its histograms are only right without labels besides `le`.
 */
declare module 'parse-prometheus-text-format' {
  namespace parsePrometheusTextFormat {
    /** One series of a family (a histogram's buckets, count and sum gathered in one). */
    interface Sample {
      value?: string;
      labels?: Record<string, string>;
      /** Histograms: cumulative count per `le` bound. */
      buckets?: Record<string, string>;
      count?: string;
      sum?: string;
    }
    /** A metric family: its `# HELP`, its `# TYPE` (upper case) and its series. */
    interface MetricFamily {
      name: string;
      help: string;
      type: 'COUNTER' | 'GAUGE' | 'HISTOGRAM' | 'SUMMARY' | 'UNTYPED';
      metrics: Sample[];
    }
  }
  /** Parses the Prometheus text exposition format; throws on a malformed line. */
  function parsePrometheusTextFormat(text: string): parsePrometheusTextFormat.MetricFamily[];
  export = parsePrometheusTextFormat;
}
