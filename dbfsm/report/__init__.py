"""`dbfsm report`: one self-contained HTML page per outage, for a person to look at.

After a database outage an operator wants to *see* what the server did: when each backend
went down, every reconnect attempt and how it ended, when the service stopped and started
serving, why it exited, and which path through the lifecycle that was. The records of
`dbfsm simulate` / `dbfsm run` (JSON Lines) and a real Kea log both say it, in lines; this
package turns them into a page:

- `read`: the input (dbfsm JSON Lines or a Kea 2.x/3.x log) as records, refusing bad input
  with one line;
- `model`: what the page shows, derived from the records alone: a lane per backend with its
  spans and attempts, the serving changes, the commands, the exit, the summary figures, and
  when there is more than a page can draw, the same aggregated into time buckets;
- `path`: the lifecycle path the run took (the `diagram --highlight` view), from the run's
  own state changes or from `conform`'s explanation of a recorded run;
- `page`: the HTML, with the timeline as inline SVG and a little inline script for zoom,
  pan and hover; nothing is loaded from anywhere when it opens;
- `build`: the whole, for `dbfsm report` and for `simulate --report` / `run --report`.
"""
