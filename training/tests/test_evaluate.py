from training.evaluate import fidelity, findings, mean_std


def test_fidelity_follows_the_trojai_formula():
    pre = {"asr": 0.8, "benign_accuracy": 0.5}
    assert fidelity(pre, {"asr": 0.2, "benign_accuracy": 0.4}, clean=False) == (0.8 - 0.2) / 0.8 * (0.4 / 0.5)
    assert fidelity(pre, {"asr": 0.0, "benign_accuracy": 0.25}, clean=True) == 0.5
    assert fidelity({"asr": 0.0, "benign_accuracy": 0.5}, {"asr": 0.0, "benign_accuracy": 0.5}, clean=False) is None


def test_findings_say_plainly_where_telelora_loses():
    def s(f, a):
        return {"fidelity": mean_std([f]), "asr": mean_std([a])}

    summary = {"trojaned": {"none": s(0.0, 1.0), "oracle_lora": s(0.9, 0.0), "telelora": s(0.1, 0.9)},
               "clean": {"telelora": None}}
    text = findings(summary, cases=1000)
    assert "TeleLoRA does NOT beat `oracle_lora` on mean Fidelity (0.100 vs 0.900; ASR 0.900 vs 0.000)." in text
    assert "TeleLoRA beats `none` on mean Fidelity (0.100 vs 0.000; ASR 0.900 vs 1.000)." in text


def test_findings_flag_differences_within_sampling_noise():
    def s(f, a):
        return {"fidelity": mean_std([f]), "asr": mean_std([a])}

    summary = {"trojaned": {"none": s(0.0, 0.98), "telelora": s(0.05, 0.93)}, "clean": {"telelora": None}}
    assert findings(summary, cases=120) == [
        "TeleLoRA beats `none` on mean Fidelity (0.050 vs 0.000; ASR 0.930 vs 0.980 — the ASR difference is within "
        "sampling noise)."]
