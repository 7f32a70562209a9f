-- One PostgreSQL server, two databases: the serving database (goodwatch, created by the image from POSTGRES_DB)
-- and the Dagster instance's storage (dagster).
CREATE DATABASE dagster;
