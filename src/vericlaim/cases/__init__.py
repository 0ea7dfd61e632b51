"""Claims as cases: the workflow (transitions as data), SLA clocks, the use cases and
the durable analysis queue. ``vericlaim.cases.service`` is the API's backing."""
