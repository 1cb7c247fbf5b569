"""Lead outcomes back to the ad platforms (issue 6, "Lead outcomes back to the platforms").

``stages`` reads the funnel stages dealers' CRMs report (``appointment_set``, ``shown``, ``sold``
from ``lead_events``), once per lead and stage, puts them through the audiences' consent gate and
hashes what each platform matches on; ``meta_capi`` and ``google_uploads`` build each platform's
documented request (Meta Conversions API CRM events; Google Ads click conversions and enhanced
conversions for leads) as pure functions; ``ledger`` remembers what was sent per platform, lead and
stage; ``sync`` sends what is new, with backoff, and resumes after a crash without duplicates.
"""
