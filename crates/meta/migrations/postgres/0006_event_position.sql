-- Consumers of the outbox (replication, later webhooks and scanning) read the events after their
-- cursor (txid, id) every second. Without this index each read scanned the whole table, and the
-- table grows by one row per pull. SQLite needs none: there txid is always 0 and the read seeks
-- the rowid.
CREATE INDEX events_by_position ON events (txid, id);
