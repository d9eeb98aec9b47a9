"""Provider-neutral scheduling: time arguments, the Google availability engine.

* `times` reads the date-time arguments of tool calls and writes the times
  of results, for a listener (`speakable`) and for a program (`iso_local`, `iso_utc`).
* `slots` computes free slots from working hours, busy intervals and the function's
  rules; Google has no slot endpoint, so agentcal does it.

Everything here is pure: no I/O, no clock (callers pass `now`), no database.
"""
