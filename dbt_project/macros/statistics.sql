{#-
    Aggregate percentiles. percentile_cont(expression, fraction) is an aggregate (use it with
    GROUP BY); median(expression) = percentile_cont(expression, 0.5).
-#}
{% macro percentile_cont(expression, fraction) -%}
    {{ return(adapter.dispatch('percentile_cont', 'account_rtm')(expression, fraction)) }}
{%- endmacro %}

{% macro default__percentile_cont(expression, fraction) -%}
    percentile_cont({{ fraction }}) within group (order by {{ expression }})
{%- endmacro %}

{% macro duckdb__percentile_cont(expression, fraction) -%}
    quantile_cont({{ expression }}, {{ fraction }})
{%- endmacro %}

{% macro median(expression) -%}
    {{ return(account_rtm.percentile_cont(expression, 0.5)) }}
{%- endmacro %}
