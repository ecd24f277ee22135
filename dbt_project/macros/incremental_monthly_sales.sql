{#-
  Incremental maintenance of int_accounts__monthly_sales (see the model's header): one row
  per (account_id, sales_month) pair, from int_accounts__market_purchases (our products'
  sell-out) and the direct sell-in. int_accounts__market_purchases logs the pairs each of
  its builds re-aggregated (<market_purchases>__touched, macros/pair_logs.sql); a night
  deletes those pairs here and inserts them again, then deletes the log rows of the builds
  it applied. Every pair is rebuilt instead when a pair-by-pair update could differ from a
  full build:
    - the log is missing, or holds a build that re-aggregated every pair;
    - the stored rows were built by another version of the model's SQL;
    - the direct sell-in's inputs changed (the ERP's sell-in lines, the CRM's is_direct
      flag): they are fingerprinted as table_on_input_change fingerprints a table's inputs,
      and arrive on their own schedule, not with each day's sell-out.
  The state (SQL version, direct inputs' fingerprint) is kept in <model>__state after each
  build. The decision is taken when the model is compiled and again in its pre-hook, from
  the same tables.
-#}

{% macro monthly_sales_pairs_log() -%}
    {{ return(market_purchases_pairs_log(ref('int_accounts__market_purchases'))) }}
{%- endmacro %}


{% macro monthly_sales_state_relation() -%}
    {{ return(this.incorporate(path={"identifier": this.identifier ~ "__state"})) }}
{%- endmacro %}


{#- What the stored rows were built from, besides the logged pairs: this SQL and the
    fingerprint of the parents other than the incremental one the log speaks for. -#}
{% macro monthly_sales_state() -%}
    {%- set direct_parents = [] %}
    {%- for parent_id in model.depends_on.nodes %}
        {%- if parent_id in graph.sources or graph.nodes[parent_id].config.materialized != 'incremental' %}
            {%- do direct_parents.append(parent_id) %}
        {%- endif %}
    {%- endfor %}
    {%- set inputs = input_states({'depends_on': {'nodes': direct_parents}}) %}
    {{- return(local_md5(model.raw_code) ~ ':' ~ local_md5(inputs | join('\n'))) -}}
{%- endmacro %}


{#- The market_purchases builds whose pairs are logged (none when there is no log). -#}
{% macro monthly_sales_market_builds() -%}
    {{- return(pair_log_builds(monthly_sales_pairs_log(), 'market_build_id')) -}}
{%- endmacro %}


{#- Whether tonight's build rebuilds every pair (see the header). -#}
{% macro monthly_sales_rebuilds_all() -%}
    {%- if pair_log_requires_full_rebuild(monthly_sales_pairs_log(), 'market_build_id') %}
        {{- return(true) -}}
    {%- endif %}
    {%- set state = monthly_sales_state_relation() %}
    {%- if not catalog_has_relation(state) %}{{ return(true) }}{% endif %}
    {%- set rows = run_query('select built_from from ' ~ state).rows %}
    {{- return(not rows or rows[0][0] != monthly_sales_state()) -}}
{%- endmacro %}


{#- The model's filter on a side's rows (a condition and-ed to its where clause): those of
    the logged pairs, unless every pair is rebuilt. -#}
{% macro monthly_sales_pairs_to_build(alias, month_column) -%}
    {%- if not monthly_sales_rebuilds_all() %}
        and {{ pair_log_selects(monthly_sales_pairs_log(), 'market_build_id', 'sales_month',
            monthly_sales_market_builds(), alias, month_column) }}
    {%- endif %}
{%- endmacro %}


{#- Pre-hook: record the pairs that tonight's build inserts again (every pair: one
    rebuilt_all row) for this model's uniqueness test, and delete them. -#}
{% macro monthly_sales_prune() -%}
    {%- if execute %}
    {{ pair_log_prune(monthly_sales_rebuilds_all(), 'sales_month', monthly_sales_pairs_log(),
        'market_build_id', 'sales_month', monthly_sales_market_builds()) }}
    {%- endif %}
{%- endmacro %}


{#- Post-hook: record what the rows were built from, and delete the log rows of the
    market_purchases builds applied (the same builds as at compile time: only a build of
    int_accounts__market_purchases writes the log, and none runs while this model does). -#}
{% macro monthly_sales_record_state() -%}
    {%- if execute %}
    create or replace table {{ monthly_sales_state_relation() }} as
    select '{{ monthly_sales_state() }}' as built_from
    {%- set builds = monthly_sales_market_builds() %}
    {%- if builds %};
    {{ pair_log_delete_applied(monthly_sales_pairs_log(), 'market_build_id', builds) }}
    {%- endif %}
    {%- endif %}
{%- endmacro %}
