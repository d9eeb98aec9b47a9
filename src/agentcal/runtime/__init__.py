"""The provider-neutral tool runtime: the catalog, the executor, idempotency, the audit trail."""
