"""Storage: SQLAlchemy models, sessions, migrations and the queries the services need."""
