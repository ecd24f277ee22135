{#- Generic test for the incremental sell-out fact (int_sell_out_lines__linked): every key
    the last build wrote appears once in the whole table. Lines the build did not touch
    were checked on the night they were written and cannot have gained a twin since (a
    twin would be a line written tonight), so the group-by runs over tonight's keys only,
    found with the predicate that chose what to insert, over the changes the build saved
    (macros/incremental_sell_out.sql), instead of over every key of the history. A build
    that rewrote every line (the first one, a full refresh, a changed configuration) checks
    every key. -#}
{% test unique_in_rewritten_lines(model, column_name) %}
{%- set rewritten_lines = none %}
{%- if execute and catalog_has_relation(sell_out_lines_changes_relation(model)) %}
    {%- set rewritten_lines = sell_out_lines_saved_changes(model) %}
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

with

rewritten as (

    select {{ column_name }} as rewritten_key
    from {{ model }}
    where {{ rewritten_lines }}

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
