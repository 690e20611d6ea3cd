-- The observability profile's Marquez keeps its lineage in its own database.
CREATE DATABASE marquez OWNER floe;
