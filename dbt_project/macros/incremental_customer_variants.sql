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


{#- Pre-hook: drop the rows of files that left the raw table (restated, superseded) and the
    rows of another version of the model. -#}
{% macro customer_variants_prune() -%}
    {%- if is_incremental() and execute %}
    {%- set raw_files = customer_variants_raw_files() %}
    delete from {{ this }}
    {%- if raw_files %}
    where
        model_version <> '{{ customer_variants_version() }}'
        or file_hash not in ({{ sql_string_list(raw_files) }})
    {%- endif %}
    {%- endif %}
{%- endmacro %}
