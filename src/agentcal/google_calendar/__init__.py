"""Google Calendar API v3: the client, its errors, and OAuth access-token refresh."""
