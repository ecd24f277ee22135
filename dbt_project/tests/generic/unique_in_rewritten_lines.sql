{#- Generic test for the incremental sell-out fact (int_sell_out_lines__linked): every key
    the last build wrote appears once in the whole table. Lines the build did not touch
    were checked on the night they were written and cannot have gained a twin since (a
    twin would be a line written tonight), so the group-by runs over tonight's keys only,
    found with the same predicate that chose what to insert (macros/incremental_sell_out.sql),
    instead of over every key of the history. A build that rewrote every line (the first
    one, a full refresh, a changed configuration) checks every key. -#}
{% test unique_in_rewritten_lines(model, column_name) %}
{%- set changes = sell_out_lines_changes_relation(model) %}
{%- set rewrote_everything = true %}
{%- if execute and catalog_has_relation(changes) %}
    {%- set rewrote_everything = run_query(
        "select count(*) from " ~ changes ~ " where kind = 'config'").rows[0][0] > 0 %}
{%- endif %}
{%- if rewrote_everything %}
{#- every key was written: a plain group-by (a semi-join of the table on itself costs more) -#}
select
    {{ column_name }} as unique_field,
    count(*) as n_records
from {{ model }}
group by {{ column_name }}
having count(*) > 1
{%- else %}

with

rewritten as (

    select {{ column_name }} as rewritten_key
    from {{ model }}
    where {{ sell_out_lines_changed(changes, model ~ '.') }}

)

select
    {{ column_name }} as unique_field,
    count(*) as n_records
from {{ model }}
where {{ column_name }} in (select rewritten_key from rewritten)
group by {{ column_name }}
having count(*) > 1
{%- endif %}

{% endtest %}
