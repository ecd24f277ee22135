{#-
  int_accounts__distributor_links night by night (macros/incremental_links.sql has the
  common part). A code's source record is the roll-up of its spellings in
  int_accounts__distributor_customer_variants (one row per file, code and spelling), which
  changes when a file with the code arrives (a file hash that was not there at the last
  build) or leaves (the variants' pre-hook logs the codes of the rows it deletes,
  customer_variants_removed_relation). Those codes are refreshed: every spelling of theirs,
  over every file, is rolled up again. Everything is rebuilt when the log is missing or holds
  a variants build that rewrote every row.
-#}

{% macro distributor_links_key_types() -%}
    {{- return(['siret', 'phone', 'name_postcode_number', 'name_postcode']) -}}
{%- endmacro %}


{#- The stored column of each key type. -#}
{% macro distributor_links_stored_keys() -%}
    {{- return({
        'siret': 'customer_siret', 'phone': 'customer_phone_normalized',
        'name_postcode_number': 'name_postcode_number_key', 'name_postcode': 'name_postcode_key',
    }) -}}
{%- endmacro %}


{% macro distributor_links_variants() -%}
    {{ return(ref('int_accounts__distributor_customer_variants')) }}
{%- endmacro %}


{#- The files the variants hold, one row each (file_key). -#}
{% macro distributor_links_files() -%}
    select distinct file_hash as file_key from {{ distributor_links_variants() }}
{%- endmacro %}


{#- The variants builds whose removed codes are logged (none when there is no log). -#}
{% macro distributor_links_variant_builds() -%}
    {%- set removed = customer_variants_removed_relation(distributor_links_variants()) %}
    {%- if not catalog_has_relation(removed) %}{{ return(none) }}{% endif %}
    {%- set query -%}
        select build_id, max(case when rewrote_all then 1 else 0 end)
        from {{ removed }}
        group by build_id
        order by build_id
    {%- endset %}
    {{- return(run_query(query).rows) -}}
{%- endmacro %}


{#- Tonight's plan: {rebuilds_all, compare_keys, new_files, builds (the variants builds
    whose removed codes are applied)}. -#}
{% macro distributor_links_plan(version) -%}
    {%- set plan = {'rebuilds_all': true, 'compare_keys': false, 'new_files': [], 'builds': []} %}
    {%- if not execute %}{{ return(plan) }}{% endif %}
    {%- set builds = distributor_links_variant_builds() %}
    {%- if builds is not none %}
        {%- do plan.update({'builds': builds | map(attribute=0) | list}) %}
    {%- endif %}
    {%- set state = link_stored_state() %}
    {%- if state is none or state['version'] != version or builds is none %}
        {{- return(plan) }}
    {%- endif %}
    {%- if builds | map(attribute=1) | select('equalto', 1) | list %}{{ return(plan) }}{% endif %}
    {%- set files = run_query(distributor_links_files()).columns[0].values() | list %}
    {%- do plan.update({
        'rebuilds_all': false,
        'compare_keys': link_match_keys_may_have_changed(state),
        'new_files': list_minus(files, state['files']),
    }) %}
    {{- return(plan) -}}
{%- endmacro %}


{#- The matching keys of a customer, normalized as int_accounts__match_keys does. -#}
{% macro distributor_links_key_columns() -%}
        {{ normalize_name('customer_name') }} as customer_name_normalized,
        {{ normalize_phone('customer_phone') }} as customer_phone_normalized,
        {{ street_number('customer_address') }} as street_number,
        {{ name_postcode_keys('customer_name', 'customer_postcode', 'customer_address') }}
{%- endmacro %}


{% macro distributor_links_version() -%}
    {%- set key_types = distributor_links_key_types() %}
    {{- return(link_model_version([
        distributor_links_key_columns(), crm_link_joins(key_types, 'keyed'),
        crm_link_columns(key_types), crosswalk_match_method(),
        crosswalk_columns('distributor_id'), link_decision_columns(),
        tojson(customer_spelling_columns()),
    ])) -}}
{%- endmacro %}


{#- Pre-hook: empty the table when every code is rebuilt, else delete the codes whose files
    left (those still sold are inserted again; the others are gone). -#}
{% macro distributor_links_pre_hook() -%}
    {%- if is_incremental() and execute %}
    {%- set plan = distributor_links_plan(distributor_links_version()) %}
    {%- if plan['rebuilds_all'] %}
    delete from {{ this }}
    {%- elif plan['builds'] %}
    delete from {{ this }}
    where exists (
        select 1
        from {{ customer_variants_removed_relation(distributor_links_variants()) }} as removed
        where
            removed.build_id in ({{ sql_string_list(plan['builds']) }})
            and removed.distributor_id = {{ this }}.distributor_id
            and removed.distributor_account_code = {{ this }}.distributor_account_code
    )
    {%- endif %}
    {%- endif %}
{%- endmacro %}


{#- Post-hook: the state, then the log rows of the variants builds applied (the same builds as
    at compile time: only a build of the variants writes the log, and none runs while this
    model does). -#}
{% macro distributor_links_post_hook() -%}
    {%- if execute %}
    {{ link_record_state(
        distributor_links_version(), distributor_links_key_types(), distributor_links_files()) }}
    {%- set builds = distributor_links_plan(distributor_links_version())['builds'] %}
    {%- if builds %};
    delete from {{ customer_variants_removed_relation(distributor_links_variants()) }}
    where build_id in ({{ sql_string_list(builds) }})
    {%- endif %}
    {%- endif %}
{%- endmacro %}


{#- The CTE of the refreshed codes, followed by a comma (nothing when every code is
    rebuilt): codes with spellings in the files that arrived since the last build, or in the
    files that left (logged by the variants' builds). -#}
{% macro distributor_links_changed_codes_cte(plan) -%}
    {%- if not plan['rebuilds_all'] %}
changed_codes as (

    {%- if plan['new_files'] %}
    select
        distributor_id,
        distributor_account_code
    from {{ distributor_links_variants() }}
    where file_hash in ({{ sql_string_list(plan['new_files']) }})
    {%- else %}
    select
        cast(null as {{ dbt.type_string() }}) as distributor_id,
        cast(null as {{ dbt.type_string() }}) as distributor_account_code
    where 1 = 0
    {%- endif %}
    {%- if plan['builds'] %}
    union
    select
        distributor_id,
        distributor_account_code
    from {{ customer_variants_removed_relation(distributor_links_variants()) }}
    where build_id in ({{ sql_string_list(plan['builds']) }})
    {%- endif %}

),
    {%- endif %}
{%- endmacro %}


{#- The spellings the model rolls up: every one, or those of the refreshed codes. -#}
{% macro distributor_links_spellings(plan) -%}
    {%- if plan['rebuilds_all'] -%}
    {{ distributor_links_variants() }}
    {%- else -%}
    (
        select *
        from {{ distributor_links_variants() }} as spellings
        where exists (
            select 1
            from changed_codes
            where
                changed_codes.distributor_id = spellings.distributor_id
                and changed_codes.distributor_account_code = spellings.distributor_account_code
        )
    ) as spellings
    {%- endif -%}
{%- endmacro %}
