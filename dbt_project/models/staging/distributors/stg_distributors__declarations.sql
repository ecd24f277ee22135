-- Grain: one row per distributor and reported month: what the distributor declared on the
-- portal for its sell-out report (lines, signed bottles, value, declaration date). Compare
-- with stg_distributors__sell_out_lines for declared vs actual.
with

source as (

    select * from {{ source('raw', 'distributor_declarations') }}

),

renamed as (

    select
        -- ids
        {{ surrogate_key(['distributor_id', 'period']) }} as declaration_id,
        distributor_id,

        -- period
        period,
        cast(period || '-01' as date) as period_month,

        -- measures
        declared_lines,
        declared_bottles,
        declared_amount_eur,

        -- dates
        declared_at,

        -- lineage
        _source_file as source_file,
        _source_line as source_line,
        _file_hash as file_hash,
        _loaded_at as loaded_at

    from source

)

select * from renamed
