-- Webhooks and alerts (docs/governance.md). Keep in step with ../../sqlite and
-- crates/store/src/schema.rs.

-- A webhook subscription. `events` is the JSON array of subscribed types; `secret` is the
-- signing secret encrypted with the server's secret key (never stored or returned in clear).
-- `cursor` is the last event seq whose deliveries are enqueued.
CREATE TABLE webhooks (
    id TEXT COLLATE "C" PRIMARY KEY NOT NULL,
    url TEXT COLLATE "C" NOT NULL,
    events TEXT COLLATE "C" NOT NULL,
    secret TEXT COLLATE "C" NOT NULL,
    description TEXT COLLATE "C",
    cursor BIGINT NOT NULL,
    created TIMESTAMP NOT NULL,
    modified TIMESTAMP NOT NULL
);

-- One delivery of one event type of one event to one webhook: enqueued once (unique key),
-- sent until the receiver answers 2xx (at least once; `id` lets receivers deduplicate).
CREATE TABLE webhook_deliveries (
    id TEXT COLLATE "C" PRIMARY KEY NOT NULL,
    webhook_id TEXT COLLATE "C" NOT NULL REFERENCES webhooks (id) ON DELETE CASCADE,
    seq BIGINT NOT NULL,
    event_type TEXT COLLATE "C" NOT NULL,
    payload TEXT COLLATE "C" NOT NULL,
    status TEXT COLLATE "C" NOT NULL,
    attempts BIGINT NOT NULL DEFAULT 0,
    next_attempt_at TIMESTAMP,
    last_status BIGINT,
    last_error TEXT COLLATE "C",
    created TIMESTAMP NOT NULL,
    delivered_at TIMESTAMP
);
CREATE UNIQUE INDEX webhook_deliveries_key ON webhook_deliveries (webhook_id, seq, event_type);
CREATE INDEX webhook_deliveries_status_idx ON webhook_deliveries (webhook_id, status, seq);

-- Background workers that run on one replica at a time (`webhooks`, `alerts`): an event-log
-- cursor where the worker keeps one, and a lease with a fencing token.
CREATE TABLE worker_leases (
    name TEXT COLLATE "C" PRIMARY KEY NOT NULL,
    seq BIGINT NOT NULL DEFAULT 0,
    lease_owner TEXT COLLATE "C",
    lease_token TEXT COLLATE "C",
    lease_until TIMESTAMP
);
