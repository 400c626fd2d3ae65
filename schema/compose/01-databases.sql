-- Run once by the PostgreSQL container of docker-compose.yml: one database per service,
-- (Temporal creates its own databases.)
CREATE DATABASE sagaflow_order;
CREATE DATABASE sagaflow_payment;
CREATE DATABASE sagaflow_inventory;
