{#-
  Incremental maintenance of int_accounts__market_purchases (see the model's header): one
  row per (account_id, sales_month) pair aggregated from int_sell_out_lines__linked, whose
  builds log the pairs of the lines they deleted or inserted (<fact>__touched, macro
  sell_out_lines_touched_relation). A night deletes the logged pairs here and inserts their
  aggregate again, then deletes the log rows of the fact builds it applied. Every pair is
  rebuilt instead when a pair-by-pair update could differ from a full build:
    - the log is missing (nothing says what changed since this table was built) or holds
      a fact build that rewrote every line;
    - the stored rows were built by another version of the model's SQL (model_version);
    - the set of categories in which we sell (own categories, from the product master)
      changed: category_amount_eur changes for lines of other brands that the fact did
      not rewrite.
  The decision is taken when the model is compiled and again in its pre-hook, from the
  same tables: only a build of the fact writes the log, and dbt runs it before this model.
  The pre-hook logs in turn the pairs this build re-aggregates (or that it rebuilds every
  pair) in <model>__touched, for int_accounts__monthly_sales (macros/pair_logs.sql).
-#}

{#- The version of the model's SQL that the stored rows were built with. -#}
{% macro market_purchases_version() -%}
    {{- return(local_md5(model.raw_code)) -}}
{%- endmacro %}


{% macro market_purchases_touched_relation() -%}
    {{ return(sell_out_lines_touched_relation(ref('int_sell_out_lines__linked'))) }}
{%- endmacro %}


{#- The own categories the stored rows were aggregated with. -#}
{% macro market_purchases_categories_relation() -%}
    {{ return(this.incorporate(path={"identifier": this.identifier ~ "__own_categories"})) }}
{%- endmacro %}


{#- The categories of the product master in which we sell: of our brands' products, or
    every category when own_brands is empty. -#}
{% macro market_purchases_own_categories() -%}
    {%- set own_brands = var('own_brands', []) or [] %}
    select distinct category
    from {{ ref('stg_erp__products') }}
    {%- if own_brands %}
    where brand in ({{ sql_string_list(own_brands) }})
    {%- endif %}
{%- endmacro %}


{#- The fact builds whose pairs are logged (none when there is no log). -#}
{% macro market_purchases_fact_builds() -%}
    {{- return(pair_log_builds(market_purchases_touched_relation(), 'fact_build_id')) -}}
{%- endmacro %}


{#- The pairs this model's builds re-aggregated, for int_accounts__monthly_sales. -#}
{% macro market_purchases_pairs_log(model=this) -%}
    {{ return(model.incorporate(path={"identifier": model.identifier ~ "__touched"})) }}
{%- endmacro %}


{#- Whether tonight's build rebuilds every pair (see the header). -#}
{% macro market_purchases_rebuilds_all() -%}
    {%- if pair_log_requires_full_rebuild(market_purchases_touched_relation(), 'fact_build_id') %}
        {{- return(true) -}}
    {%- endif %}
    {%- set columns = adapter.get_columns_in_relation(this) | map(attribute='name') | list %}
    {%- if 'model_version' not in columns %}{{ return(true) }}{% endif %}
    {#- every row has the same version: a build with another one rebuilt every pair -#}
    {%- set rows = run_query('select model_version from ' ~ this ~ ' limit 1').rows %}
    {%- if not rows or rows[0][0] != market_purchases_version() %}{{ return(true) }}{% endif %}
    {%- set categories = market_purchases_categories_relation() %}
    {%- if not catalog_has_relation(categories) %}{{ return(true) }}{% endif %}
    {%- set query -%}
        select count(*) from (
            (
                select category from {{ categories }}
                except
                select category from ({{ market_purchases_own_categories() }}) as own
            )
            union all
            (
                select category from ({{ market_purchases_own_categories() }}) as own
                except
                select category from {{ categories }}
            )
        ) as changed
    {%- endset %}
    {{- return(run_query(query).rows[0][0] > 0) -}}
{%- endmacro %}


{#- The model's filter on the fact's lines (a condition and-ed to its where clause): those of
    the logged pairs, unless every pair is rebuilt. -#}
{% macro market_purchases_lines_to_aggregate(lines_alias) -%}
    {%- if not market_purchases_rebuilds_all() %}
        and {{ pair_log_selects(market_purchases_touched_relation(), 'fact_build_id',
            'sale_month', market_purchases_fact_builds(), lines_alias, 'sale_month') }}
    {%- endif %}
{%- endmacro %}


{#- Pre-hook: log the pairs that tonight's build re-aggregates (every pair: a rewrote_all
    row) for int_accounts__monthly_sales, then record them for this model's uniqueness test
    and delete them here (pair_log_prune). Logged here rather than after the build:
    afterwards the stored rows carry the new model_version whether or not this build
    rebuilt every pair. -#}
{% macro market_purchases_prune() -%}
    {%- if execute %}
    {%- set log = market_purchases_pairs_log() %}
    create table if not exists {{ log }} (
        market_build_id {{ dbt.type_string() }},
        account_id {{ dbt.type_string() }},
        sales_month date,
        rewrote_all {{ dbt.type_boolean() }}
    );
    {%- set rebuilds_all = market_purchases_rebuilds_all() %}
    {%- set builds = none if rebuilds_all else market_purchases_fact_builds() %}
    {%- if rebuilds_all %}
    insert into {{ log }} values ('{{ invocation_id }}', null, null, true);
    {%- else %}
    insert into {{ log }}
    select distinct '{{ invocation_id }}', account_id, sale_month, false
    from {{ market_purchases_touched_relation() }}
    where fact_build_id in ({{ sql_string_list(builds) }}) and account_id is not null;
    {%- endif %}
    {{ pair_log_prune(rebuilds_all, 'sales_month', market_purchases_touched_relation(),
        'fact_build_id', 'sale_month', builds) }}
    {%- endif %}
{%- endmacro %}


{#- Post-hook: record the own categories aggregated with, and delete the log rows of the
    fact builds applied (the same builds as at compile time: nothing but a build of the fact
    writes the log, and none runs while this model does). -#}
{% macro market_purchases_record_state() -%}
    {%- if execute %}
    create or replace table {{ market_purchases_categories_relation() }} as
    {{ market_purchases_own_categories() }}
    {%- set builds = market_purchases_fact_builds() %}
    {%- if builds %};
    {{ pair_log_delete_applied(market_purchases_touched_relation(), 'fact_build_id', builds) }}
    {%- endif %}
    {%- endif %}
{%- endmacro %}
