-- Grain: one row per loaded sell-out file (file_hash), distributor customer code
-- (distributor_id + distributor_account_code) and spelling of the customer's details (name,
-- address, postcode, city), with that spelling's activity in the file. The distributor
-- customers of int_accounts__distributor_links are rolled up from it, so a night does not
-- group every sell-out line of the history again: about 10 lines make one row here.
--
-- Incremental by file, the unit in which lines arrive and leave raw.distributor_sell_out
-- (a restated file's lines are replaced under a new hash): a night aggregates the files
-- whose hash is not here yet and deletes the rows of files no longer in the raw table. The
-- rows carry the version of this model's SQL, so a changed model rebuilds every file
-- instead of mixing two definitions. The hashes are listed when the model is compiled
-- (dbt does it just before running it) and written as constants: a filter on constants
-- reaches the raw table's scan, which is in file order, and skips the other files' row
-- groups. The codes of the rows it deletes are logged for int_accounts__distributor_links
-- (macros/incremental_customer_variants.sql).
{{ config(
    materialized='incremental',
    incremental_strategy='append',
    on_schema_change='fail',
    pre_hook="{{ customer_variants_prune() }}",
    post_hook="{{ customer_variants_log_build() }}",
) }}
{%- set version = customer_variants_version() %}
with

lines as (

    select * from {{ ref('stg_distributors__sell_out_lines') }}
    {%- if is_incremental() and execute %}
    where file_hash in ({{ sql_string_list(customer_variants_new_files(version)) }})
    {%- endif %}

),

variants as (

    select
        file_hash,
        {{ customer_spelling_columns() | join(',\n        ') }},
        max(customer_siret) as customer_siret,
        max(customer_phone) as customer_phone,
        count(*) as line_count,
        min(sale_date) as first_sale_date,
        max(sale_date) as last_sale_date,
        max(loaded_at) as last_loaded_at,
        '{{ version }}' as model_version
    from lines
    group by
        file_hash,
        {{ customer_spelling_columns() | join(',\n        ') }}

)

select * from variants
