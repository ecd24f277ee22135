-- Grain: exactly one row: the reporting calendar of this run.
-- as_of_month = var as_of_month ('YYYY-MM', the last closed month), or when empty the latest
-- month with sell-out data. r12 = the 12 calendar months ending with as_of_month; p12 = the
-- 12 months before r12. Dates are inclusive month starts / month ends.
-- depends_on: {{ ref('stg_distributors__sell_out_lines') }}
{%- set as_of_month = (var('as_of_month', '') or '') | string | trim %}
{%- if as_of_month %}
    {%- set as_of_expression = "cast('" ~ as_of_month ~ "-01' as date)" %}
    {%- set as_of_from = "" %}
{%- else %}
    {%- set as_of_expression = month_start('max(sale_date)') %}
    {%- set as_of_from = "from " ~ ref('stg_distributors__sell_out_lines') %}
{%- endif %}
with

as_of as (

    select {{ as_of_expression }} as as_of_month_start
    {{ as_of_from }}

),

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
