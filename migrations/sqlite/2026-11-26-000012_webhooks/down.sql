DROP TABLE worker_leases;
DROP TABLE webhook_deliveries;
DROP TABLE webhooks;
