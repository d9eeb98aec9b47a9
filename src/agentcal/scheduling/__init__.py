"""Provider-neutral scheduling: time arguments, the Google availability engine.

* `times` reads the date-time arguments of tool calls: forms, DST gaps and folds,
  the checks on a requested start.
* `phrases` writes the times of results, to be read or heard (`speakable`), and for a
  program (`iso_local`, `iso_utc`); `speech` says in which language and for whom.
* `slots` computes free slots from working hours, busy intervals and the function's
  rules; Google has no slot endpoint, so agentcal does it.

Everything here is pure: no I/O, no database, and no clock (callers pass `now`), with
one exception: a date said to a listener leaves out the year when it is the current
one, which `phrases` reads from the clock. (`speech` reads its message catalogues,
packaged files, once.)
"""
