import { Registry } from "prom-client";
import type { Engine, RunEvent, RunStatusCounts } from "../../engine/index.js";
import type { QueueInspector } from "../../queues/index.js";
import { EventMetrics } from "./event-metrics.js";
import { ScrapeMetrics } from "./scrape-metrics.js";

/**
 * GET /metrics: a registry of its own per API (tests run several in one process), with figures
 * read at scrape time (ScrapeMetrics) and figures counted from the event stream (EventMetrics).
 */
export class ApiMetrics {
  readonly contentType: string;
  private readonly registry = new Registry();
  private readonly scraped: ScrapeMetrics;
  private readonly counted: EventMetrics;
  private readonly runCounts: RunStatusCounts;
  private rendering: Promise<string> | undefined;

  constructor(engine: Engine, queues: QueueInspector, onError: (error: unknown) => void = () => undefined) {
    this.contentType = this.registry.contentType;
    this.runCounts = engine.createRunStatusCounts();
    this.scraped = new ScrapeMetrics(this.registry, engine, queues, this.runCounts);
    this.counted = new EventMetrics(this.registry, engine, onError);
  }

  /** Hand it every event of the global stream (the API's EventTail). */
  observe(event: RunEvent): void {
    this.counted.observe(event);
  }

  /** The exposition text. Scrapes that arrive together share one read of Redis. */
  render(): Promise<string> {
    this.rendering ??= this.scraped
      .refresh()
      .then(() => this.registry.metrics())
      .finally(() => {
        this.rendering = undefined;
      });
    return this.rendering;
  }
}
