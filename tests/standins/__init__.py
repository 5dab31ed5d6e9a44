"""Wire-level stand-ins for outside services, used by integration tests."""
