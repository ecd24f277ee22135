-- Grain: one row per ERP invoice line (invoice_id + line_number), to a distributor or to a
-- direct account; negative quantities and amounts are credit notes.
with

source as (

    select * from {{ source('raw', 'erp_sell_in') }}

),

renamed as (

    select
        -- ids
        {{ dbt.concat(["invoice_id", "'-'", "cast(line_number as " ~ dbt.type_string() ~ ")"]) }}
            as sell_in_line_id,
        invoice_id,
        line_number,
        customer_id,
        case when customer_type = 'distributor' then customer_id end as distributor_id,
        case when customer_type = 'direct_account' then customer_id end as account_id,
        sku,

        -- categories
        customer_type,
        unit,
        currency,
        quantity < 0 as is_credit_note,

        -- measures
        quantity,
        net_amount,

        -- dates
        invoice_date,
        {{ month_start('invoice_date') }} as invoice_month,

        -- lineage
        _source_file as source_file,
        _loaded_at as loaded_at

    from source

)

select * from renamed
