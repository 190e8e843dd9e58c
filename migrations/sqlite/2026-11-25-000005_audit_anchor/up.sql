-- Where the hash chain starts (`roster audit prune`). One row: the first remaining event `seq`
-- and the `prev_hash` it must carry (the hash of the last pruned event), the cut it came from
-- and the `prune` event that recorded it. Never pruned: seq 1, the genesis hash, no cut.
-- `roster audit verify` starts here and checks this row against the latest prune event.
CREATE TABLE chain_anchor (
    id INTEGER PRIMARY KEY NOT NULL,
    seq BIGINT NOT NULL,
    prev_hash TEXT NOT NULL,
    pruned_before TIMESTAMP,
    prune_seq BIGINT
);
INSERT INTO chain_anchor (id, seq, prev_hash) VALUES (1, 1, '0000000000000000000000000000000000000000000000000000000000000000');
