"""Data stage, bottom up: K49's file format (k49format), the facts table and user folders
(datasets), download (fetch), the synthetic set (synthetic/), loading (load), `data info` (info)
and the dataset figures (figures)."""
