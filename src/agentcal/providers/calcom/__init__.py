"""Cal.com: the `/api/v1/calcom/integration` management API, the v2 client and bookings."""
