-- Grain: one row per distributor x month with sell-out lines or sell-in invoices
-- (distributor_id + activity_month): what its loaded sell-out lines say (by sale month) and
-- what we invoiced it (ERP sell-in to customer_type distributor, by invoice month), in bottles.
with

sell_out as (

    select
        distributor_id,
        sale_month as activity_month,
        count(*) as sell_out_lines,
        sum(case when is_linked then 1 else 0 end) as linked_lines,
        sum(coalesce(quantity_bottles, 0)) as sell_out_bottles,
        sum(coalesce(amount_eur, 0)) as sell_out_amount_eur
    from {{ ref('int_sell_out_lines__linked') }}
    group by distributor_id, sale_month

),

sell_in as (

    select
        distributor_id,
        invoice_month as activity_month,
        sum(coalesce(quantity_bottles, 0)) as sell_in_bottles
    from {{ ref('int_sell_in_lines__converted') }}
    where customer_type = 'distributor'
    group by distributor_id, invoice_month

),

final as (

    select
        coalesce(sell_out.distributor_id, sell_in.distributor_id) as distributor_id,
        coalesce(sell_out.activity_month, sell_in.activity_month) as activity_month,
        coalesce(sell_out.sell_out_lines, 0) as sell_out_lines,
        coalesce(sell_out.linked_lines, 0) as linked_lines,
        coalesce(sell_out.sell_out_bottles, 0) as sell_out_bottles,
        coalesce(sell_out.sell_out_amount_eur, 0) as sell_out_amount_eur,
        coalesce(sell_in.sell_in_bottles, 0) as sell_in_bottles
    from sell_out
    full outer join sell_in
        on
            sell_out.distributor_id = sell_in.distributor_id
            and sell_out.activity_month = sell_in.activity_month

)

select * from final
