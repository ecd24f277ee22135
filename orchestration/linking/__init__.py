"""Account harmonization: link distributor, online and external records to CRM accounts.

normalize.py   DuckDB macros that put names, addresses, cities, phones in matching form
engine.py      deterministic keys, then Splink (Fellegi-Sunter) on the DuckDB backend
incremental.py the engine with a saved state: the next night predicts only the pairs of
               new or changed records with the saved model
crosswalk.py   the nightly crosswalk: overrides > stable previous links > engine, review
               queue, unmatched records and prospects, written into the working database
evaluate.py    precision / recall / F1 of the crosswalk against the sample's ground truth
"""
