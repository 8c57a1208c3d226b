/**
 * Gateway metrics and their Prometheus text rendering (exposition format 0.0.4).
 *
 * What the gateway measures itself (calls, errors and latency per actor as seen by the gateway,
 * HTTP requests and bytes) lives in {@linkcode GatewayMetrics}; what the node knows (messages
 * handled and mailbox depth of its local named actors, members by state, actor counts) is read
 * from the {@linkcode ActorSystem} at scrape time.
 *
 * Transport bytes: the cluster layer reports them through the system extension
 * {@linkcode TRANSPORT_STATS_KEY} (an object `{ bytesIn, bytesOut }` it mutates); until it does,
 * the two counters stay at 0.
 *
 * @module
 */

import type { ActorSystem } from "../core/system.ts";
import { isInternalName } from "../core/names.ts";

/** Histogram bucket upper bounds, in seconds (a gateway call costs ~100 µs and up). */
export const LATENCY_BUCKETS: readonly number[] = [
  0.0001,
  0.00025,
  0.0005,
  0.001,
  0.0025,
  0.005,
  0.01,
  0.025,
  0.05,
  0.1,
  0.25,
  0.5,
  1,
  2.5,
  5,
  10,
];

/** The system extension key under which the cluster layer publishes its byte counters. */
export const TRANSPORT_STATS_KEY = "pulsing.transport.stats";

/** Byte counters of the cluster transport (mutated by `cluster/`, read by the gateway). */
export interface TransportStats {
  /** Bytes received from peers. */
  bytesIn: number;
  /** Bytes sent to peers. */
  bytesOut: number;
}

/** Per-actor figures of the gateway. */
export interface ActorCallStats {
  /** Calls that answered. */
  ok: number;
  /** Calls that failed, by error class. */
  errors: Map<string, number>;
  /** Histogram counts per bucket (not cumulative), plus one for +Inf. */
  buckets: number[];
  /** Sum of the observed latencies, in seconds. */
  sum: number;
}

/** Most actors tracked, so that a churn of short-lived names cannot grow memory forever. */
const MAX_ACTORS = 10_000;

/** What the gateway counts. */
export class GatewayMetrics {
  /** When the gateway started (ms since epoch). */
  readonly startedAt: number = Date.now();
  /** Per-actor call figures. */
  readonly actors: Map<string, ActorCallStats> = new Map();
  /** HTTP requests by method, route and status (NUL-separated key). */
  readonly requests: Map<string, number> = new Map();
  /** HTTP request body bytes read. */
  bytesIn = 0;
  /** HTTP response body bytes written (streams counted as they flow). */
  bytesOut = 0;

  #stats(actor: string): ActorCallStats {
    let s = this.actors.get(actor);
    if (s === undefined) {
      if (this.actors.size >= MAX_ACTORS) this.actors.delete(this.actors.keys().next().value!);
      s = {
        ok: 0,
        errors: new Map(),
        buckets: new Array(LATENCY_BUCKETS.length + 1).fill(0),
        sum: 0,
      };
      this.actors.set(actor, s);
    }
    return s;
  }

  /** Record a call's outcome and latency. */
  observe(actor: string, seconds: number, errorClass?: string): void {
    const s = this.#stats(actor);
    if (errorClass === undefined) s.ok++;
    else s.errors.set(errorClass, (s.errors.get(errorClass) ?? 0) + 1);
    let i = 0;
    while (i < LATENCY_BUCKETS.length && seconds > LATENCY_BUCKETS[i]) i++;
    s.buckets[i]++;
    s.sum += seconds;
  }

  /** Record one HTTP request. */
  request(method: string, route: string, status: number): void {
    const k = `${method}\0${route}\0${status}`;
    this.requests.set(k, (this.requests.get(k) ?? 0) + 1);
  }
}

function esc(v: string): string {
  return v.replace(/\\/g, "\\\\").replace(/"/g, '\\"').replace(/\n/g, "\\n");
}

function num(n: number): string {
  return Number.isFinite(n) ? String(n) : n > 0 ? "+Inf" : n < 0 ? "-Inf" : "NaN";
}

const STATUSES = ["alive", "suspect", "dead", "left"];

/**
 * Render every metric in Prometheus text format.
 *
 * @example
 * ```ts ignore
 * const text = await renderMetrics(system, new GatewayMetrics());
 * ```
 */
export async function renderMetrics(system: ActorSystem, m: GatewayMetrics): Promise<string> {
  const out: string[] = [];
  const head = (name: string, type: string, help: string) => {
    out.push(`# HELP ${name} ${help}`, `# TYPE ${name} ${type}`);
  };
  const node = `node_id="${esc(system.nodeId.value)}"`;

  head("pulsing_node_info", "gauge", "This node (always 1).");
  out.push(`pulsing_node_info{${node},addr="${esc(system.addr)}"} 1`);
  head("pulsing_uptime_seconds", "gauge", "Seconds since the gateway started.");
  out.push(`pulsing_uptime_seconds ${num((Date.now() - m.startedAt) / 1000)}`);
  head("pulsing_actors", "gauge", "Actors running on this node, named and anonymous.");
  out.push(`pulsing_actors ${system.actorCount}`);

  // user actors only: built-in `system/...` actors are not the operator's concern here
  const cells = [...system.localNamedCells()].filter((c) => !isInternalName(c.name!));
  head("pulsing_named_actors", "gauge", "Named actors running on this node.");
  out.push(`pulsing_named_actors ${cells.length}`);
  head("pulsing_actor_messages_total", "counter", "Messages handled by each local named actor.");
  for (const c of cells) {
    out.push(`pulsing_actor_messages_total{actor="${esc(c.name!)}"} ${c.handled}`);
  }
  head("pulsing_actor_mailbox_depth", "gauge", "Messages queued in each local named actor.");
  for (const c of cells) {
    out.push(`pulsing_actor_mailbox_depth{actor="${esc(c.name!)}"} ${c.mailboxDepth}`);
  }
  head(
    "pulsing_actor_errors_total",
    "counter",
    "Messages whose handling threw, per local named actor.",
  );
  for (const c of cells) {
    out.push(`pulsing_actor_errors_total{actor="${esc(c.name!)}"} ${c.errors}`);
  }
  head("pulsing_actor_restarts_total", "counter", "Supervised restarts of each local named actor.");
  for (const c of cells) {
    out.push(`pulsing_actor_restarts_total{actor="${esc(c.name!)}"} ${c.restarts}`);
  }

  const members = await system.members();
  const byStatus = new Map<string, number>(STATUSES.map((s) => [s, 0]));
  for (const mem of members) byStatus.set(mem.status, (byStatus.get(mem.status) ?? 0) + 1);
  head("pulsing_cluster_members", "gauge", "Cluster members by status.");
  for (const [s, n] of byStatus) out.push(`pulsing_cluster_members{status="${esc(s)}"} ${n}`);
  const named = await system.allNamedActors();
  head("pulsing_cluster_named_actors", "gauge", "Named actors known across the cluster.");
  out.push(`pulsing_cluster_named_actors ${named.length}`);

  const t = system.extension<TransportStats>(
    TRANSPORT_STATS_KEY,
    () => ({ bytesIn: 0, bytesOut: 0 }),
  );
  head("pulsing_transport_received_bytes_total", "counter", "Bytes received from cluster peers.");
  out.push(`pulsing_transport_received_bytes_total ${t.bytesIn}`);
  head("pulsing_transport_sent_bytes_total", "counter", "Bytes sent to cluster peers.");
  out.push(`pulsing_transport_sent_bytes_total ${t.bytesOut}`);

  head(
    "pulsing_gateway_calls_total",
    "counter",
    "Calls made through this gateway, by actor and outcome.",
  );
  for (const [a, s] of m.actors) {
    out.push(`pulsing_gateway_calls_total{actor="${esc(a)}",outcome="ok"} ${s.ok}`);
    let errs = 0;
    for (const n of s.errors.values()) errs += n;
    out.push(`pulsing_gateway_calls_total{actor="${esc(a)}",outcome="error"} ${errs}`);
  }
  head(
    "pulsing_gateway_errors_total",
    "counter",
    "Failed gateway calls, by actor and error class.",
  );
  for (const [a, s] of m.actors) {
    for (const [cls, n] of s.errors) {
      out.push(`pulsing_gateway_errors_total{actor="${esc(a)}",class="${esc(cls)}"} ${n}`);
    }
  }
  head(
    "pulsing_gateway_call_duration_seconds",
    "histogram",
    "Gateway call latency per actor (streams: until the first item).",
  );
  for (const [a, s] of m.actors) {
    let acc = 0;
    for (let i = 0; i < LATENCY_BUCKETS.length; i++) {
      acc += s.buckets[i];
      out.push(
        `pulsing_gateway_call_duration_seconds_bucket{actor="${esc(a)}",le="${
          LATENCY_BUCKETS[i]
        }"} ${acc}`,
      );
    }
    acc += s.buckets[LATENCY_BUCKETS.length];
    out.push(`pulsing_gateway_call_duration_seconds_bucket{actor="${esc(a)}",le="+Inf"} ${acc}`);
    out.push(`pulsing_gateway_call_duration_seconds_sum{actor="${esc(a)}"} ${num(s.sum)}`);
    out.push(`pulsing_gateway_call_duration_seconds_count{actor="${esc(a)}"} ${acc}`);
  }
  head("pulsing_http_requests_total", "counter", "HTTP requests, by method, route and status.");
  for (const [k, n] of m.requests) {
    const [method, route, status] = k.split("\0");
    out.push(
      `pulsing_http_requests_total{method="${method}",route="${
        esc(route)
      }",status="${status}"} ${n}`,
    );
  }
  head("pulsing_http_received_bytes_total", "counter", "HTTP request body bytes read.");
  out.push(`pulsing_http_received_bytes_total ${m.bytesIn}`);
  head("pulsing_http_sent_bytes_total", "counter", "HTTP response body bytes written.");
  out.push(`pulsing_http_sent_bytes_total ${m.bytesOut}`);
  return out.join("\n") + "\n";
}
