-- Room on each page of raw.documents for a new version of 30% of its rows, so the daily export's popularity and
-- hints refreshes are HOT updates: no indexed column changes, so the row's new version stays on its page and no
-- index gets an entry. On full pages every such update moved the row and added an entry to each index
-- (benchmarks/ingest.py, 1.2M titles with 30% of popularities moved: 1.14M primary-key index blocks touched and
-- 189 MB of WAL before; 70% of the updates HOT, 0.51M blocks and 68 MB after). Pages written from now on keep
-- the room; a page's old versions are pruned when it next runs short of it.
ALTER TABLE raw.documents SET (fillfactor = 70);
