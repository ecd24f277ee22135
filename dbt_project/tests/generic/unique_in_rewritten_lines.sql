{#- Generic test for the incremental sell-out fact (int_sell_out_lines__linked): every key
    the last build wrote appears once in the whole table. Lines the build did not touch
    were checked on the night they were written and cannot have gained a twin since (a
    twin would be a line written tonight), so only tonight's lines are grouped: those the
    predicate that chose what to insert selects, over the changes the build saved
    (macros/incremental_sell_out.sql). That group-by also finds a twin stored anywhere in
    the table: the key hashes the file's content hash and the line number, so a twin is a
    copy of the same raw line (same file hash, product code, distributor and customer
    code), which the predicate selects as well. One pass over tonight's lines, instead of
    one to find them and another over every key of the history to find their twins. A
    build that rewrote every line (the first one, a full refresh, a changed configuration)
    checks every key.
    Tonight's lines are read one kind of change at a time (the new files, then each
    distributor's relinked codes, ...), each branch leaving out the lines an earlier one
    took, so that a line is counted once: their disjunction spans several columns, which
    DuckDB does not push into the scan, so every line's key was read (1.5 to 2 s at 1M
    accounts); each branch's conditions are pushed, and only the matching lines' keys are
    read (0.2 s). -#}
{% test unique_in_rewritten_lines(model, column_name) %}
{%- set rewritten_lines = none %}
{%- if execute and catalog_has_relation(sell_out_lines_changes_relation(model)) %}
    {%- set rewritten_lines = sell_out_lines_saved_changes(model, as_list=true) %}
{%- endif %}
{%- if rewritten_lines is none %}
{#- every key was written: a plain group-by (a semi-join of the table on itself costs more) -#}
select
    {{ column_name }} as unique_field,
    count(*) as n_records
from {{ model }}
group by {{ column_name }}
having count(*) > 1
{%- else %}
select
    {{ column_name }} as unique_field,
    count(*) as n_records
from (
    {{ select_rows_once(model, rewritten_lines, column_name) }}
) as rewritten_lines
group by {{ column_name }}
having count(*) > 1
{%- endif %}

{% endtest %}
