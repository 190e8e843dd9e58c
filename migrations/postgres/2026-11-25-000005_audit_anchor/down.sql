DROP TABLE chain_anchor;
