"""The offline replica of every upstream: a synthetic catalog and its ground truth, pages and API answers shaped like
the real ones, faults on demand, served on loopback (``goodwatch replica serve``)."""
