-- Grain: exactly one row: the reporting calendar of this run.
-- as_of_month = var as_of_month ('YYYY-MM', the last closed month), or when empty the latest
-- month with sell-out data. r12 = the 12 calendar months ending with as_of_month; p12 = the
-- 12 months before r12. Dates are inclusive month starts / month ends.
{%- set as_of_month = (var('as_of_month', '') or '') | string | trim %}
with

{% if as_of_month %}
as_of as (

    select cast('{{ as_of_month }}-01' as date) as as_of_month_start

),
{% else %}
as_of as (

    select {{ month_start('max(sale_date)') }} as as_of_month_start
    from {{ ref('stg_distributors__sell_out_lines') }}

),
{% endif %}

periods as (

    select
        as_of_month_start,
        cast({{ dbt.last_day('as_of_month_start', 'month') }} as date) as as_of_month_end,
        cast({{ dbt.dateadd('month', -11, 'as_of_month_start') }} as date) as r12_start,
        cast({{ dbt.last_day('as_of_month_start', 'month') }} as date) as r12_end,
        cast({{ dbt.dateadd('month', -23, 'as_of_month_start') }} as date) as p12_start,
        cast({{ dbt.dateadd('day', -1, dbt.dateadd('month', -11, 'as_of_month_start')) }} as date)
            as p12_end
    from as_of

),

final as (

    select
        {{ dbt.concat([
            "cast(extract(year from as_of_month_start) as " ~ dbt.type_string() ~ ")",
            "'-'",
            "lpad(cast(extract(month from as_of_month_start) as " ~ dbt.type_string() ~ "), 2, '0')"
        ]) }} as as_of_month,
        *
    from periods

)

select * from final
