"""Google Calendar: the `/api/v1/functions` management API, the v3 client, OAuth and bookings."""
