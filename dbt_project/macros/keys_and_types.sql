{#-
    surrogate_key(columns): md5 of the columns cast to text, null-safe, '-' separated
    (same recipe as dbt_utils.generate_surrogate_key, without the package dependency).
-#}
{% macro surrogate_key(columns) -%}
    {%- set parts = [] -%}
    {%- for column in columns -%}
        {%- do parts.append(
            "coalesce(cast(" ~ column ~ " as " ~ dbt.type_string() ~ "), '_dbt_null_')") -%}
        {%- if not loop.last %}{% do parts.append("'-'") %}{% endif -%}
    {%- endfor -%}
    {{ dbt.hash(dbt.concat(parts)) }}
{%- endmacro %}


{#- type_double(): 8-byte floating point type name. -#}
{% macro type_double() -%}
    {{ return(adapter.dispatch('type_double', 'account_rtm')()) }}
{%- endmacro %}

{% macro default__type_double() -%}
    double precision
{%- endmacro %}

{% macro duckdb__type_double() -%}
    double
{%- endmacro %}


{#- month_start(date_expression): first day of the month, as a date. -#}
{% macro month_start(date_expression) -%}
    cast({{ dbt.date_trunc('month', date_expression) }} as date)
{%- endmacro %}


{#- size_band(employees_expression): band name from var size_bands (ascending lower bounds). -#}
{% macro size_band(employees_expression) -%}
    {%- set bands = var('size_bands') | sort(attribute='min_employees', reverse=true) -%}
    case
        {%- for band in bands %}
        when {{ employees_expression }} >= {{ band.min_employees }} then '{{ band.name }}'
        {%- endfor %}
        else 'unknown'
    end
{%- endmacro %}


{#- Sets of small integers as bigint bit sets: bit_at(position) is the set holding only
    position (0 to 62) as a bigint, combined with the bit_or aggregate and the | operator and
    intersected with &. Days of a month add up across sources this way
    (day_of_month_bit(date): bit 0 = the 1st; day_count(mask) counts the days in a set), so
    days with a purchase can be summed per source and the union counted without going back
    to the lines. -#}
{% macro bit_at(position_expression) -%}
    {{ return(adapter.dispatch('bit_at', 'account_rtm')(position_expression)) }}
{%- endmacro %}

{% macro default__bit_at(position_expression) -%}
    shiftleft(cast(1 as bigint), cast({{ position_expression }} as int))
{%- endmacro %}

{% macro duckdb__bit_at(position_expression) -%}
    (cast(1 as bigint) << cast({{ position_expression }} as int))
{%- endmacro %}

{% macro day_of_month_bit(date_expression) -%}
    {{ bit_at('extract(day from ' ~ date_expression ~ ') - 1') }}
{%- endmacro %}

{% macro day_count(mask_expression) -%}
    {{ return(adapter.dispatch('day_count', 'account_rtm')(mask_expression)) }}
{%- endmacro %}

{% macro default__day_count(mask_expression) -%}
    cast(bit_count(coalesce({{ mask_expression }}, 0)) as {{ dbt.type_bigint() }})
{%- endmacro %}
