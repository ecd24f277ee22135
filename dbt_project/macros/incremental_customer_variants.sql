{#-
  Incremental maintenance of int_accounts__distributor_customer_variants (see the model's
  header): rows are added and removed file by file, by comparing the file hashes of the raw
  sell-out lines with those already aggregated under the current version of the model.
-#}

{#- A distributor customer's code and one spelling of its details: the grain of
    int_accounts__distributor_customer_variants (with the file) and of the spellings that
    int_accounts__distributor_links ranks. -#}
{% macro customer_spelling_columns() -%}
    {{- return([
        'distributor_id', 'distributor_account_code',
        'customer_name', 'customer_address', 'customer_postcode', 'customer_city',
    ]) -}}
{%- endmacro %}


{#- The version of the model's SQL that the stored rows were built with. -#}
{% macro customer_variants_version() -%}
    {{- return(local_md5(model.raw_code)) -}}
{%- endmacro %}


{#- File hashes of the sell-out lines in the raw table (one column, dictionary-encoded: a
    cheap scan even over the whole history). -#}
{% macro customer_variants_raw_files() -%}
    {%- set query -%}
        select distinct file_hash from {{ ref('stg_distributors__sell_out_lines') }}
    {%- endset -%}
    {{- return(run_query(query).columns[0].values() | list) -}}
{%- endmacro %}


{#- Files in the raw table that are not aggregated here yet under this version. -#}
{% macro customer_variants_new_files(version) -%}
    {%- set query -%}
        select distinct file_hash from {{ this }} where model_version = '{{ version }}'
    {%- endset -%}
    {%- set present = run_query(query).columns[0].values() | list -%}
    {{- return(customer_variants_raw_files() | reject('in', present) | list) -}}
{%- endmacro %}


{#- The customer codes whose rows a build deleted, appended by each build to <model>__removed
    with the build's invocation id, for int_accounts__distributor_links: a code's roll-up
    changes when a file it was in leaves, and the deleted rows are the only record of which
    codes those were (files that arrive are found by their hash). A build that deleted or
    rebuilt every row (a full build, another version of the model) logs one row with
    rewrote_all instead. The consumer deletes the builds it applied. -#}
{% macro customer_variants_removed_relation(model=this) -%}
    {{ return(model.incorporate(path={"identifier": model.identifier ~ "__removed"})) }}
{%- endmacro %}


{% macro customer_variants_create_removed() -%}
    create table if not exists {{ customer_variants_removed_relation() }} (
        build_id {{ dbt.type_string() }},
        distributor_id {{ dbt.type_string() }},
        distributor_account_code {{ dbt.type_string() }},
        rewrote_all {{ dbt.type_boolean() }}
    )
{%- endmacro %}


{% macro customer_variants_log_rewrote_all() -%}
    {{ customer_variants_create_removed() }};
    insert into {{ customer_variants_removed_relation() }}
        (build_id, distributor_id, distributor_account_code, rewrote_all)
    values ('{{ invocation_id }}', null, null, true)
{%- endmacro %}


{#- Pre-hook: drop the rows of files that left the raw table (restated, superseded) and the
    rows of another version of the model, after logging their customer codes. -#}
{% macro customer_variants_prune() -%}
    {%- if is_incremental() and execute %}
    {%- set raw_files = customer_variants_raw_files() %}
    {%- set version = customer_variants_version() %}
    {%- set other_versions = run_query(
        "select count(*) from " ~ this ~ " where model_version <> '" ~ version ~ "'"
    ).rows[0][0] %}
    {%- if other_versions > 0 or not raw_files %}
    {{ customer_variants_log_rewrote_all() }};
    delete from {{ this }}
    {%- if raw_files %}
    where
        model_version <> '{{ version }}'
        or file_hash not in ({{ sql_string_list(raw_files) }})
    {%- endif %}
    {%- else %}
    {{ customer_variants_create_removed() }};
    insert into {{ customer_variants_removed_relation() }}
        (build_id, distributor_id, distributor_account_code, rewrote_all)
    select distinct
        '{{ invocation_id }}' as build_id,
        distributor_id,
        distributor_account_code,
        false as rewrote_all
    from {{ this }}
    where file_hash not in ({{ sql_string_list(raw_files) }});
    delete from {{ this }}
    where file_hash not in ({{ sql_string_list(raw_files) }})
    {%- endif %}
    {%- endif %}
{%- endmacro %}


{#- Post-hook: a build without a table to build on (first build, --full-refresh) logs that it
    rewrote every row; every build leaves the log in place. -#}
{% macro customer_variants_log_build() -%}
    {%- if execute %}
    {%- if not is_incremental() %}
    {{ customer_variants_log_rewrote_all() }}
    {%- else %}
    {{ customer_variants_create_removed() }}
    {%- endif %}
    {%- endif %}
{%- endmacro %}
