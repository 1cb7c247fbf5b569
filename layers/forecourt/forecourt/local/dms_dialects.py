"""DMS deal extracts (CDK, Dealertrack) and visit logs (service ROs, showroom traffic) as rows.

DMS records of a person differ from the CRM's: the legal first name, upper case (CDK), the work
e-mail or none, the home phone. Finance terms follow the usual amortization so that payments look
like the ones lenders quote.
"""

from __future__ import annotations

import random
from datetime import date, timedelta

from forecourt.local.activity import Sale, Visit
from forecourt.local.dialects import Row, contact, dms_date, make_text, yes_no
from forecourt.local.population import pick

CDK_HEADER = (
    "DealNumber", "CustNo", "ContractDate", "DeliveryDate", "NewUsed", "SaleType", "FinanceType", "StockNo",
    "VIN", "Year", "MakeName", "ModelName", "Trim", "Odometer", "Salesman1Name", "BuyerFirstName",
    "BuyerMiddleName", "BuyerLastName", "CoBuyerFirstName", "CoBuyerLastName", "BuyerAddress", "BuyerCity",
    "BuyerState", "BuyerZip", "BuyerHomePhone", "BuyerBusinessPhone", "BuyerCellPhone", "BuyerEmail",
    "BlockPhone", "BlockEmail", "BlockMail", "TradeVIN", "TradeYear", "TradeMake", "TradeModel", "CashPrice",
    "APR", "Term", "AmountFinanced", "Payment", "CashDown", "LienHolder", "FrontGross", "BackGross",
    "FirstPayDate", "MaturityDate",
)  # fmt: skip
DEALERTRACK_HEADER = (
    "Deal No", "Customer No", "Contract Date", "Delivery Date", "N/U", "Deal Type", "Sale Type", "Stock No",
    "VIN", "Year", "Make", "Model", "Trim", "Mileage", "Salesperson 1", "Buyer First Name",
    "Buyer Middle Initial", "Buyer Last Name", "Co-Buyer First Name", "Co-Buyer Last Name", "Address", "City",
    "State", "Zip", "Home Phone", "Work Phone", "Cell Phone", "Email", "Do Not Call", "Email Opt-In",
    "Trade 1 VIN", "Trade 1 Year", "Trade 1 Make", "Trade 1 Model", "Selling Price", "APR", "Term",
    "Amount Financed", "Monthly Payment", "Cash Down", "Lienholder", "Front Gross", "Back Gross",
    "First Payment Date", "Maturity/Lease End Date",
)  # fmt: skip
SERVICE_HEADER = (
    "RO Number", "Open Date", "Close Date", "Advisor", "Pay Type", "Labor Sale", "Parts Sale", "VIN", "Year",
    "Make", "Model", "Mileage In", "Cust No", "First Name", "Last Name", "Home Phone", "Cell Phone", "Email",
    "Address", "City", "State", "Zip", "Customer Concern",
)  # fmt: skip
SHOWROOM_HEADER = (
    "Visit ID", "Time In", "Time Out", "Salesperson", "Appointment", "Customer ID", "First Name", "Last Name",
    "Phone", "Email", "Vehicle Year", "Vehicle Make", "Vehicle Model", "Notes",
)  # fmt: skip


def monthly_payment(principal: float, apr: float, months: int) -> float:
    """The level payment that amortizes ``principal`` over ``months`` at ``apr`` percent."""
    if months <= 0:
        return 0.0
    rate = apr / 1200
    if rate == 0:
        return round(principal / months, 2)
    return round(principal * rate / (1 - (1 + rate) ** -months), 2)


def add_months(day: date, months: int) -> date:
    """``day`` moved by whole months (clamped to the 28th so every month has it)."""
    total = day.month - 1 + months
    return date(day.year + total // 12, total % 12 + 1, min(day.day, 28))


def _finance(sale: Sale) -> dict[str, str]:
    """The deal's money terms as plain numbers; cash deals leave them blank."""
    if sale.finance_type == "Cash":
        return {"price": f"{sale.price:.2f}", "front": f"{sale.front_gross:.2f}", "back": "0.00"}
    financed = max(1_000, sale.price - sale.down - (sale.trade.price if sale.trade else 0))
    first_payment = sale.contract + timedelta(days=30 + sale.deal_number % 15)
    return {
        "price": f"{sale.price:.2f}", "apr": f"{sale.apr:.2f}", "term": str(sale.term),
        "financed": f"{financed:.2f}", "payment": f"{monthly_payment(financed, sale.apr, sale.term):.2f}",
        "down": f"{sale.down:.2f}", "lender": sale.lender, "front": f"{sale.front_gross:.2f}",
        "back": f"{sale.back_gross:.2f}", "first": f"{first_payment:%Y%m%d}",
        "maturity": f"{add_months(first_payment, sale.term - 1):%Y%m%d}",
    }  # fmt: skip


def _us_date(compact: str) -> str:
    return f"{compact[4:6]}/{compact[6:]}/{compact[:4]}" if compact else ""


def cdk_row(rng: random.Random, sale: Sale) -> Row:
    """A CDK deal extract row: YYYYMMDD dates, upper-case buyer, Y/N blocks."""
    view = contact(rng, sale.person, dms=True, upper=True)
    money, trade, cobuyer = _finance(sale), sale.trade, sale.cobuyer
    return {
        "DealNumber": str(sale.deal_number),
        "CustNo": sale.customer_id,
        "ContractDate": dms_date(sale.contract, "cdk", sale.defect),
        "DeliveryDate": dms_date(sale.contract + timedelta(days=sale.deal_number % 3), "cdk", ""),
        "NewUsed": sale.vehicle.status[0].upper(),
        "SaleType": "Lease" if sale.finance_type == "Lease" else "Retail",
        "FinanceType": sale.finance_type,
        "StockNo": f"{sale.vehicle.make[0]}{sale.deal_number % 100_000:05d}",
        "VIN": sale.vehicle.vin,
        "Year": str(sale.vehicle.year),
        "MakeName": make_text(rng, sale.vehicle.make).upper(),
        "ModelName": sale.vehicle.model.upper(),
        "Trim": sale.vehicle.trim.upper(),
        "Odometer": str(sale.odometer),
        "Salesman1Name": ", ".join(reversed(sale.salesperson.upper().split(" ", 1))),
        "BuyerFirstName": view["first"],
        "BuyerMiddleName": view["middle"],
        "BuyerLastName": view["last"],
        "CoBuyerFirstName": cobuyer.first.upper() if cobuyer else "",
        "CoBuyerLastName": cobuyer.last.upper() if cobuyer else "",
        "BuyerAddress": view["street"],
        "BuyerCity": view["city"],
        "BuyerState": view["state"],
        "BuyerZip": view["zip"],
        "BuyerHomePhone": view["home"],
        "BuyerCellPhone": view["mobile"],
        "BuyerEmail": view["email"],
        "BlockPhone": "N",
        "BlockEmail": yes_no(rng.random() < 0.05),
        "BlockMail": "N",
        "TradeVIN": trade.vin if trade else "",
        "TradeYear": str(trade.year) if trade else "",
        "TradeMake": trade.make.upper() if trade else "",
        "TradeModel": trade.model.upper() if trade else "",
        "CashPrice": money["price"],
        "APR": money.get("apr", ""),
        "Term": money.get("term", ""),
        "AmountFinanced": money.get("financed", ""),
        "Payment": money.get("payment", ""),
        "CashDown": money.get("down", ""),
        "LienHolder": money.get("lender", ""),
        "FrontGross": money["front"],
        "BackGross": money["back"],
        "FirstPayDate": money.get("first", ""),
        "MaturityDate": money.get("maturity", ""),
    }


def dealertrack_row(rng: random.Random, sale: Sale) -> Row:
    """A Dealertrack deal row: MM/DD/YYYY dates, proper-case buyer, inverted 'Email Opt-In'."""
    view = contact(rng, sale.person, dms=True)
    money, trade, cobuyer = _finance(sale), sale.trade, sale.cobuyer
    return {
        "Deal No": str(sale.deal_number),
        "Customer No": sale.customer_id,
        "Contract Date": dms_date(sale.contract, "us", sale.defect),
        "Delivery Date": dms_date(sale.contract + timedelta(days=sale.deal_number % 3), "us", ""),
        "N/U": sale.vehicle.status[0].upper(),
        "Deal Type": sale.finance_type,
        "Sale Type": "Lease" if sale.finance_type == "Lease" else "Retail",
        "Stock No": f"{sale.vehicle.make[0]}{sale.deal_number % 100_000:05d}",
        "VIN": sale.vehicle.vin,
        "Year": str(sale.vehicle.year),
        "Make": make_text(rng, sale.vehicle.make),
        "Model": sale.vehicle.model,
        "Trim": sale.vehicle.trim,
        "Mileage": f"{sale.odometer:,}",
        "Salesperson 1": sale.salesperson,
        "Buyer First Name": view["first"],
        "Buyer Middle Initial": view["middle"],
        "Buyer Last Name": view["last"],
        "Co-Buyer First Name": cobuyer.first if cobuyer else "",
        "Co-Buyer Last Name": cobuyer.last if cobuyer else "",
        "Address": view["street"],
        "City": view["city"],
        "State": view["state"],
        "Zip": view["zip"],
        "Home Phone": view["home"],
        "Cell Phone": view["mobile"],
        "Email": view["email"],
        "Do Not Call": "N",
        "Email Opt-In": yes_no(rng.random() < 0.9),
        "Trade 1 VIN": trade.vin if trade else "",
        "Trade 1 Year": str(trade.year) if trade else "",
        "Trade 1 Make": trade.make if trade else "",
        "Trade 1 Model": trade.model if trade else "",
        "Selling Price": money["price"],
        "APR": money.get("apr", ""),
        "Term": money.get("term", ""),
        "Amount Financed": money.get("financed", ""),
        "Monthly Payment": money.get("payment", ""),
        "Cash Down": money.get("down", ""),
        "Lienholder": money.get("lender", "").title(),
        "Front Gross": money["front"],
        "Back Gross": money["back"],
        "First Payment Date": _us_date(money.get("first", "")),
        "Maturity/Lease End Date": _us_date(money.get("maturity", "")),
    }


def service_row(rng: random.Random, visit: Visit) -> Row:
    """A repair-order history row (the concern may span lines inside quotes)."""
    view = contact(rng, visit.person, dms=True, upper=True) if visit.person else {}
    vehicle = visit.vehicle
    opened = "" if visit.defect == "missing_required_field" else f"{visit.opened:%m/%d/%Y %H:%M}"
    return {
        "RO Number": visit.key,
        "Open Date": opened,
        "Close Date": f"{visit.closed:%m/%d/%Y %H:%M}" if visit.closed else "",
        "Advisor": visit.staff,
        "Pay Type": visit.pay_type,
        "Labor Sale": f"{visit.labor:,.2f}",
        "Parts Sale": f"{visit.parts:,.2f}",
        "VIN": vehicle.vin if vehicle else "",
        "Year": str(vehicle.year) if vehicle else "",
        "Make": make_text(rng, vehicle.make).upper() if vehicle else "",
        "Model": vehicle.model.upper() if vehicle else "",
        "Mileage In": f"{visit.odometer:,}" if vehicle else "",
        "Cust No": visit.customer_id,
        "First Name": view.get("first", ""),
        "Last Name": view.get("last", ""),
        "Home Phone": view.get("home", ""),
        "Cell Phone": view.get("mobile", ""),
        "Email": view.get("email", ""),
        "Address": view.get("street", ""),
        "City": view.get("city", ""),
        "State": view.get("state", ""),
        "Zip": view.get("zip", ""),
        "Customer Concern": visit.notes if visit.person else "COUNTER SALE",
    }


def showroom_row(rng: random.Random, visit: Visit) -> Row:
    """A showroom traffic log row."""
    view = contact(rng, visit.person, dms=False) if visit.person else {}
    vehicle = visit.vehicle
    opened = "" if visit.defect == "missing_required_field" else f"{visit.opened:%m/%d/%Y %I:%M %p}"
    return {
        "Visit ID": visit.key,
        "Time In": opened,
        "Time Out": f"{visit.closed:%m/%d/%Y %I:%M %p}" if visit.closed else "",
        "Salesperson": visit.staff,
        "Appointment": pick(rng, ("Y", "yes")) if visit.appointment else "N",
        "Customer ID": visit.customer_id,
        "First Name": view.get("first", ""),
        "Last Name": view.get("last", ""),
        "Phone": view.get("mobile") or view.get("home", ""),
        "Email": view.get("email", ""),
        "Vehicle Year": str(vehicle.year) if vehicle else "",
        "Vehicle Make": make_text(rng, vehicle.make) if vehicle else "",
        "Vehicle Model": vehicle.model if vehicle else "",
        "Notes": visit.notes,
    }
