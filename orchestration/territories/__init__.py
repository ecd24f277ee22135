"""Sales territories: balance figures, white space and a CP-SAT re-alignment optimizer.

`model` holds the inputs (units, reps, distances, tolerance band) and their CSV readers,
`solver` the CP-SAT model and scenarios, `config` the company's territories.yaml,
`pipeline` the bridge to the working database (zones of accounts, reps, locks).
"""
