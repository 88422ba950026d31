#!/usr/bin/python3
"""Writes the synthetic card-fraud tables of the bank example.

Every row is drawn from the generative model below (README.md, "How the
data is made", states the same model in prose); no real person, card or
transaction is behind any of them. Deterministic: the same seed gives the
same files byte for byte (Python's Mersenne Twister, random.Random, one
stream per bank, seeded with "SEED:bank-K").

    /usr/bin/python3 examples/bank/generate_bank_data.py [--seed 20261201]
        [--out examples/bank]

writes bank-1.csv ... bank-5.csv (the five banks' own exports) and prints
each bank's row and fraud counts. Standard library only.
"""

import argparse
import math
import os
import random

CATEGORIES = ["grocery", "fuel", "restaurant", "online", "travel",
              "electronics", "jewelry", "atm"]
AGE_BANDS = ["18-29", "30-49", "50-69", "70+"]

# One profile per bank: the non-IID part. mix: merchant-category weights
# (CATEGORIES order); ages: age-band weights; amount_scale multiplies every
# amount; present: P(card present) for in-store categories; far: P(a
# transaction far from home); shift: added to the fraud logit (the bank's
# own fraud pressure); new_accounts: P(account younger than 90 days).
BANKS = [
    dict(name="bank-1", rows=3000, mix=[18, 8, 14, 30, 6, 12, 4, 8],
         ages=[40, 35, 18, 7], amount_scale=1.0, present=0.80, far=0.08,
         shift=0.35, new_accounts=0.10),
    dict(name="bank-2", rows=2500, mix=[30, 14, 16, 14, 4, 8, 4, 10],
         ages=[20, 38, 30, 12], amount_scale=0.9, present=0.92, far=0.05,
         shift=0.0, new_accounts=0.05),
    dict(name="bank-3", rows=2000, mix=[34, 22, 10, 8, 3, 6, 3, 14],
         ages=[10, 28, 36, 26], amount_scale=0.8, present=0.96, far=0.12,
         shift=0.6, new_accounts=0.03),
    dict(name="bank-4", rows=2000, mix=[12, 8, 18, 16, 26, 8, 6, 6],
         ages=[14, 40, 34, 12], amount_scale=1.6, present=0.85, far=0.35,
         shift=-0.4, new_accounts=0.06),
    dict(name="bank-5", rows=1500, mix=[24, 6, 22, 28, 4, 8, 1, 7],
         ages=[78, 18, 3, 1], amount_scale=0.6, present=0.78, far=0.06,
         shift=0.5, new_accounts=0.20),
]

# Typical amounts (EUR, the median of a log-normal) per category.
MEDIAN_AMOUNT = dict(grocery=35, fuel=55, restaurant=40, online=60, travel=350,
                     electronics=250, jewelry=400, atm=120)
INTERCEPT = -9.8  # sets the overall fraud rate near 2%


def fraud_logit(amount, hour, category, distance, present, account_age,
                age_band, noise):
    """The known fraud rule: a logit, nonlinear in the features."""
    night = 1.0 if hour <= 5 else 0.0
    z = INTERCEPT + 3.3 * night
    z += 1.5 * math.log(amount / 60.0)
    if not present and category in ("online", "electronics"):
        z += 3.5  # card-not-present purchases of resellable goods
    if category in ("electronics", "jewelry") and amount > 400:
        z += 2.9
    if present and distance > 300:
        z += 4.0  # a cloned card used far from home
    if account_age < 90:
        z += 3.3
    if age_band == "70+" and category == "online":
        z += 2.0  # scams aimed at older customers
    return z + noise


def draw_bank(profile, rng):
    rows = []
    for _ in range(profile["rows"]):
        category = rng.choices(CATEGORIES, weights=profile["mix"])[0]
        age_band = rng.choices(AGE_BANDS, weights=profile["ages"])[0]
        amount = MEDIAN_AMOUNT[category] * profile["amount_scale"] * math.exp(
            rng.gauss(0.0, 0.8))
        amount = round(min(max(amount, 1.0), 20000.0), 2)
        # Daytime-heavy hours; a tenth of activity is uniform over the day.
        if rng.random() < 0.1:
            hour = int(rng.random() * 24)
        else:
            hour = min(max(round(rng.gauss(14.0, 4.0)), 0), 23)
        in_store = category not in ("online",)
        present = 1 if in_store and rng.random() < profile["present"] else 0
        if rng.random() < profile["far"]:
            distance = rng.expovariate(1 / 600.0)
        else:
            distance = rng.expovariate(1 / 8.0)
        distance = round(min(distance, 9000.0), 1)
        if rng.random() < profile["new_accounts"]:
            account_age = 1 + int(rng.random() * 89)
        else:
            account_age = int(90 + rng.expovariate(1 / 1500.0))
        z = fraud_logit(amount, hour, category, distance, present,
                        account_age, age_band, rng.gauss(0.0, 0.7))
        z += profile["shift"]
        fraud = rng.random() < 1.0 / (1.0 + math.exp(-z))
        rows.append((f"{amount:.2f}", str(hour), category, f"{distance:.1f}",
                     str(present), str(account_age), age_band,
                     "fraud" if fraud else "legit"))
    return rows


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--seed", type=int, default=20261201)
    parser.add_argument("--out", default=os.path.dirname(__file__) or ".")
    args = parser.parse_args()
    header = ("amount,hour,merchant_category,distance_km,card_present,"
              "account_age_days,age_band,label")
    total = total_fraud = 0
    for k, profile in enumerate(BANKS):
        rng = random.Random(f"{args.seed}:{profile['name']}")
        rows = draw_bank(profile, rng)
        path = os.path.join(args.out, profile["name"] + ".csv")
        with open(path, "w", newline="\n") as f:
            f.write(header + "\n")
            for r in rows:
                f.write(",".join(r) + "\n")
        fraud = sum(1 for r in rows if r[-1] == "fraud")
        total += len(rows)
        total_fraud += fraud
        print(f"{path}: {len(rows)} rows, {fraud} fraud "
              f"({100.0 * fraud / len(rows):.2f}%)")
    print(f"all banks: {total} rows, {total_fraud} fraud "
          f"({100.0 * total_fraud / total:.2f}%)")


if __name__ == "__main__":
    main()
