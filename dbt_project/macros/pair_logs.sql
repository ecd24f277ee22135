{#-
  Pair logs: the tables in which each build of an incremental model records the
  (account_id, month) pairs whose rows it changed, so that a model aggregated by pair
  downstream re-aggregates those pairs only:
    - int_sell_out_lines__linked__touched, written by the sell-out fact, applied by
      int_accounts__market_purchases (macros/incremental_sell_out.sql);
    - int_accounts__market_purchases__touched, written by int_accounts__market_purchases,
      applied by int_accounts__monthly_sales.
  A row has the writing build's id, the pair, and rewrote_all (one row with null pair: that
  build changed every pair). A consumer applies the builds it finds logged, then deletes
  those builds' rows and only those: a night on which the producer was built and the
  consumer was not (or failed) leaves its pairs for the next one.
-#}

{#- The builds logged in `log` (none when there is no log). -#}
{% macro pair_log_builds(log, build_column) -%}
    {%- if not catalog_has_relation(log) %}{{ return(none) }}{% endif %}
    {%- set query -%}
        select distinct {{ build_column }} from {{ log }} order by {{ build_column }}
    {%- endset %}
    {{- return(run_query(query).columns[0].values() | list) -}}
{%- endmacro %}


{#- Whether a consumer of `log` must rebuild every pair, whatever else it checks: it is
    not built incrementally tonight (first build, --full-refresh), the log is missing
    (nothing says what changed since it was built), or a logged build changed every pair. -#}
{% macro pair_log_requires_full_rebuild(log, build_column) -%}
    {%- if not (is_incremental() and execute) %}{{ return(true) }}{% endif %}
    {%- set builds = pair_log_builds(log, build_column) %}
    {%- if builds is none %}{{ return(true) }}{% endif %}
    {%- if not builds %}{{ return(false) }}{% endif %}
    {%- set query -%}
        select count(*) from {{ log }}
        where rewrote_all and {{ build_column }} in ({{ sql_string_list(builds) }})
    {%- endset %}
    {{- return(run_query(query).rows[0][0] > 0) -}}
{%- endmacro %}


{#- A condition on the rows of `alias`: their pair is logged by one of `builds`. -#}
{% macro pair_log_selects(log, build_column, log_month_column, builds, alias, month_column) -%}
    exists (
        select 1
        from {{ log }} as logged_pairs
        where
            logged_pairs.{{ build_column }} in ({{ sql_string_list(builds) }})
            and logged_pairs.account_id = {{ alias }}.account_id
            and logged_pairs.{{ log_month_column }} = {{ alias }}.{{ month_column }}
    )
{%- endmacro %}


{#- Delete the rows of the builds a consumer applied. -#}
{% macro pair_log_delete_applied(log, build_column, builds) -%}
    delete from {{ log }}
    where {{ build_column }} in ({{ sql_string_list(builds) }})
{%- endmacro %}


{#- Where a consumer records the pairs its last build deleted and inserted again, for its
    uniqueness test (tests/generic/unique_in_rebuilt_pairs.sql): one row per pair, or one
    rebuilt_all row when that build rebuilt every pair. Replaced by every build. -#}
{% macro pair_log_rebuilt_relation(model=this) -%}
    {{ return(model.incorporate(path={"identifier": model.identifier ~ "__rebuilt"})) }}
{%- endmacro %}


{#- Record tonight's rebuilt pairs: those `log` holds for `builds` (their pair columns
    account_id and log_month_column), every pair when builds is none. -#}
{% macro pair_log_record_rebuilt(month_column, log=none, build_column=none,
        log_month_column=none, builds=none) -%}
    create or replace table {{ pair_log_rebuilt_relation() }} as
    {%- if builds is none %}
    select
        cast(null as {{ dbt.type_string() }}) as account_id,
        cast(null as date) as {{ month_column }},
        true as rebuilt_all
    {%- else %}
    select distinct
        account_id,
        {{ log_month_column }} as {{ month_column }},
        false as rebuilt_all
    from {{ log }}
    where {{ build_column }} in ({{ sql_string_list(builds) }}) and account_id is not null
    {%- endif %}
{%- endmacro %}


{#- A consumer's pre-hook, after its own checks: record the pairs tonight's build rebuilds
    (pair_log_record_rebuilt) and delete their rows, which the build inserts again: those
    `log` holds for `builds`, or every row when rebuilds_all (none to delete on a first
    build or --full-refresh, which create the table). -#}
{% macro pair_log_prune(rebuilds_all, month_column, log, build_column, log_month_column,
        builds) -%}
    {%- if rebuilds_all %}
    {{ pair_log_record_rebuilt(month_column) }}
    {%- if is_incremental() %};
    delete from {{ this }}
    {%- endif %}
    {%- else %}
    {{ pair_log_record_rebuilt(month_column, log, build_column, log_month_column, builds) }};
    delete from {{ this }}
    where {{ pair_log_selects(log, build_column, log_month_column, builds, this, month_column) }}
    {%- endif %}
{%- endmacro %}
