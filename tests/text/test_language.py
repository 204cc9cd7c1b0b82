"""The language check keeps every real Vietnamese article and keeps foreign text and mojibake out.

Texts are written here (no article text is copied into the repo); one test runs the check over all
of VNTC train (about 5 s), where the former letter-count rule quarantined 18 genuine articles.
"""

from __future__ import annotations

import gzip
import itertools
import json
import re
import unicodedata
from pathlib import Path

import pytest

from pipeline import Pipeline
from pipeline.config import NormalizeConfig
from pipeline.stages import QUARANTINE_KEY
from pipeline.stages.normalize import DIACRITICS_KEY, NormalizeStage
from pipeline.text.language import CLEARLY_VIETNAMESE, language_verdicts, syllable_share
from pipeline.text.normalize import clean_batch
from pipeline.text.scan import scan_texts
from tests.conftest import job

VI = ("Hà Nội mưa to từ chiều qua, nước ngập nhiều tuyến phố trung tâm khiến giao thông ùn tắc kéo dài tới "
      "tối. Người dân phải dắt xe qua những đoạn đường ngập sâu. ")
NO_DIACRITICS = ("Cho em hoi la lam the nao de cai dat phan mem nay tren may tinh cua em, em da thu nhieu lan "
                 "nhung khong duoc, mong cac anh chi giup do. Cam on moi nguoi nhieu a. ")
CALENDAR = ("Lịch thi đấu vòng 2 giải quần vợt Australian Open:\n"
            "Roger Federer (Thụy Sĩ) - Juan Martin Del Potro (Argentina)\n"
            "Rafael Nadal (Tây Ban Nha) - Andy Roddick (Mỹ)\n"
            "Novak Djokovic (Serbia) - Andy Murray (Anh)\n"
            "Serena Williams (Mỹ) - Maria Sharapova (Nga)\n"
            "Venus Williams (Mỹ) - Justine Henin (Bỉ)\n"
            "Lleyton Hewitt (Australia) - David Nalbandian (Argentina)\n"
            "Kim Clijsters (Bỉ) - Amelie Mauresmo (Pháp)\n"
            "Trực tiếp trên VTV3 từ 9h sáng.")
EN = "The city council approved the new budget on Tuesday after a long debate about public transport. " * 3
FR = ("Le conseil municipal a adopté mardi le nouveau budget après un long débat sur les transports publics "
      "et la réparation des ponts endommagés. ") * 3
ZH = "市议会周二在就公共交通、学校以及修复去年洪水损坏的几座桥梁进行长时间辩论后批准了新的预算。" * 3
VNI = "Tieáng Vieät laø ngoân ngöõ chính thöùc cuûa Vieät Nam, ñöôïc duøng trong caùc tröôøng hoïc. " * 3
TCVN3 = "Hµ Néi m­a to, n­íc ngËp nhiÒu tuyÕn phè trung t©m khiÕn giao th«ng ïn t¾c kÐo dµi. " * 3
UTF8_AS_LATIN1 = (VI * 2).encode("utf-8").decode("latin-1")


def _normalize(texts: list[str]) -> list[dict]:
    records = [{"id": str(i), "title": "", "text": t} for i, t in enumerate(texts)]
    return NormalizeStage(NormalizeConfig())(records)


def test_vietnamese_with_and_without_diacritics_is_kept():
    vi, plain, calendar = _normalize([VI * 2, NO_DIACRITICS * 2, CALENDAR])
    assert QUARANTINE_KEY not in vi and DIACRITICS_KEY not in vi
    assert QUARANTINE_KEY not in plain and plain[DIACRITICS_KEY] is False
    assert QUARANTINE_KEY not in calendar and DIACRITICS_KEY not in calendar


def test_calendar_goes_to_the_identifier_not_the_fast_path():
    _, latin, _, marked = scan_texts([CALENDAR]).counts[0]
    assert marked / latin < CLEARLY_VIETNAMESE  # the doubtful case the old rule got wrong, not a shortcut


@pytest.mark.parametrize(("text", "reason"), [
    (EN, "no Vietnamese diacritics, identified as 'en'"),
    (FR, "identified as 'fr'"),
    (ZH, "mostly non-Latin script"),
    (VNI, "mis-encoded VNI/TCVN3"),
    (TCVN3, "mis-encoded VNI/TCVN3"),
    (UTF8_AS_LATIN1, "mis-encoded VNI/TCVN3"),
])
def test_foreign_text_and_mojibake_are_quarantined_with_a_reason(text, reason):
    (record,) = _normalize([text])
    assert reason in record[QUARANTINE_KEY]
    assert DIACRITICS_KEY not in record


def test_language_check_off_keeps_everything():
    records = [{"id": "0", "title": "", "text": EN}, {"id": "1", "title": "", "text": NO_DIACRITICS * 2}]
    out = NormalizeStage(NormalizeConfig(language_check=False))(records)
    assert all(QUARANTINE_KEY not in r and DIACRITICS_KEY not in r for r in out)


@pytest.mark.parametrize("fmt", ["jsonl", "parquet"])
def test_diacritics_flag_reaches_the_output(tmp_path, fmt):
    import pandas as pd

    path = tmp_path / "in.jsonl"
    rows = [{"id": "vi", "text": VI * 2}, {"id": "plain", "text": NO_DIACRITICS * 2}, {"id": "en", "text": EN}]
    path.write_text("\n".join(json.dumps(r, ensure_ascii=False) for r in rows), encoding="utf-8")
    cfg = job(tmp_path, path, output={"path": str(tmp_path / "out" / f"results.{fmt}"), "format": fmt})
    summary = Pipeline.from_dict(cfg).run()
    assert (summary.written, summary.quarantined) == (2, 1)
    out = Path(cfg["output"]["path"])
    frame = pd.read_json(out, lines=True) if fmt == "jsonl" else pd.read_parquet(out)
    flags = dict(zip(frame["id"], frame["diacritics"], strict=True))
    assert flags["plain"] == False  # noqa: E712 (numpy/pandas booleans)
    assert pd.isna(flags["vi"])


def test_no_vntc_train_article_is_quarantined_as_foreign(shared_data):
    with gzip.open(shared_data / "vntc" / "train.jsonl.gz", "rt", encoding="utf-8") as fh:
        texts = [json.loads(line)["text"] for line in fh]
    assert len(texts) == 33_759
    cleaned, counts = clean_batch(texts)
    problems, no_diacritics = language_verdicts(cleaned, counts)
    assert [(i, problem) for i, problem in enumerate(problems) if problem] == []
    assert len(no_diacritics) >= 15  # the forum questions typed without accents, now kept


# Vietnamese typed without diacritics, as readers write questions (written for these tests): plain,
# in Telex (letters doubled, tone keys after the syllable), with marks on some words only.
PLAIN_QUESTIONS = [
    "Xin chao toa soan, em muon hoi ve thu tuc lam ho chieu cho con nho. Em phai mang theo giay to gi va "
    "nop o dau a? Cam on toa soan nhieu.",
    "Toi nam nay 45 tuoi, bi dau lung da hai thang nay, di kham bac si noi bi thoai hoa dot song. Xin hoi "
    "toi nen tap the duc nhu the nao cho dung?",
    "Gia dinh toi co mot manh dat o ngoai thanh, nay muon chuyen sang dat o thi can nhung giay to gi, "
    "chi phi bao nhieu? Mong luat su tu van giup.",
    "Con toi hoc lop 9, sap thi vao lop 10 nhung chau hay met moi va mat ngu. Toi phai lam gi de giup chau "
    "on thi tot hon?",
]
TELEX = ("Xin chaof toaf soanj, em muoons hoir veef thur tucj lamf hooj chieeus cho con nhor. Em phair mang theo "
         "giaays towf gif vaf nooj owr ddaau a? Camr own toaf soanj nhieeuf.")
SOME_MARKS = ("Xin chào toa soan, em muốn hoi ve thu tuc lam ho chieu cho con nhỏ. Em phải mang theo giay to gi "
              "va nop o dau a? Cảm ơn toa soan nhieu.")
FOREIGN = {
    "en": "My daughter is in ninth grade and will take the entrance exam soon, but she is often tired and cannot "
          "sleep. What should I do to help her prepare better?",
    "fr": "Ma fille est en troisième et passera bientôt l'examen d'entrée, mais elle est souvent fatiguée et "
          "dort mal. Que dois-je faire pour l'aider?",
    "es": "Mi hija está en noveno grado y pronto hará el examen de ingreso, pero a menudo está cansada y no "
          "puede dormir. ¿Qué debo hacer para ayudarla?",
    "de": "Meine Tochter ist in der neunten Klasse und schreibt bald die Aufnahmeprüfung, aber sie ist oft "
          "müde und kann nicht schlafen. Was soll ich tun?",
    "id": "Anak saya duduk di kelas sembilan dan akan segera mengikuti ujian masuk, tetapi dia sering lelah "
          "dan tidak bisa tidur. Apa yang harus saya lakukan?",
    "tl": "Ang anak kong babae ay nasa ikasiyam na baitang at malapit nang kumuha ng pagsusulit, pero madalas "
          "siyang pagod at hindi makatulog. Ano ang dapat kong gawin?",
    "it": "Mia figlia frequenta la terza media e presto sosterrà l'esame di ammissione, ma è spesso stanca e "
          "non riesce a dormire. Cosa devo fare per aiutarla?",
}


@pytest.mark.parametrize("text", [*PLAIN_QUESTIONS, TELEX, SOME_MARKS])
def test_vietnamese_typed_without_diacritics_is_kept_however_short(text):
    """Reader questions typed without marks, whole or cut to their first 115 characters (just over the
    80 letters from which the check judges): kept; those with (almost) no marks flagged ``diacritics: false``."""
    for cut in (text, text[:115]):
        _, latin, _, _ = scan_texts([cut]).counts[0]
        assert latin >= 80
        (record,) = _normalize([cut])
        assert QUARANTINE_KEY not in record, (cut, record[QUARANTINE_KEY])
        assert record.get(DIACRITICS_KEY) is (None if text is SOME_MARKS else False)


@pytest.mark.parametrize("lang", list(FOREIGN))
def test_other_latin_languages_stay_out_long_and_short(lang):
    for text in (FOREIGN[lang] * 3, FOREIGN[lang][:110]):
        (record,) = _normalize([text])
        assert "not Vietnamese" in record[QUARANTINE_KEY], text


def test_syllable_share_separates_vietnamese_without_marks_from_other_languages():
    for text in [*PLAIN_QUESTIONS, TELEX, SOME_MARKS, VI]:
        assert syllable_share(text) >= 0.9, text
    for lang, text in FOREIGN.items():
        assert syllable_share(text) < 0.5, lang


def _strip_marks(text: str) -> str:
    """Vietnamese as typed without an input method: every mark dropped, đ written d."""
    text = text.replace("đ", "d").replace("Đ", "D")
    return unicodedata.normalize("NFC", "".join(c for c in unicodedata.normalize("NFD", text)
                                               if not unicodedata.combining(c)))


def _telex(text: str) -> str:
    """Vietnamese typed in Telex without the input method converting it: "Việt" -> "Vieejt"."""
    tones = {"\u0301": "s", "\u0300": "f", "\u0309": "r", "\u0303": "x", "\u0323": "j"}

    def word(match: re.Match) -> str:
        out, tone = "", ""
        for c in unicodedata.normalize("NFD", match[0]):
            if c in tones:
                tone = tones[c]
            elif c == "\u0302":
                out += out[-1]
            elif c in "\u0306\u031b":
                out += "w"
            else:
                out += {"đ": "dd", "Đ": "DD"}.get(c, c)
        return out + tone

    return re.sub(r"\w+", word, text)


def test_real_articles_typed_without_diacritics_are_kept(shared_data):
    """The first 150 characters (a reader's short question is as long) of 400 VNTC and 100 VietNews
    articles, marks dropped or typed in Telex: the letter counts alone would reject all of them, the
    identifier alone about 8 % of the plain ones and nearly all the Telex ones."""
    texts = []
    for name, field in (("vntc/train.jsonl.gz", "text"), ("vietnews/dev.jsonl.gz", "body")):
        with gzip.open(shared_data / name, "rt", encoding="utf-8") as fh:
            texts += [json.loads(line)[field][:150] for i, line in enumerate(itertools.islice(fh, 8000)) if i % 20 == 0]
    for variant in (_strip_marks, _telex):
        cleaned, counts = clean_batch([variant(t) for t in texts])
        problems, _ = language_verdicts(cleaned, counts)
        rejected = [t for t, p in zip(cleaned, problems, strict=True) if p]
        assert len(rejected) <= 0.02 * len(texts), (variant.__name__, len(rejected), rejected[:5])


def test_identifier_is_unpacked_once_and_classifies_as_py3langid(tmp_path, monkeypatch):
    """The first use unpacks py3langid's LZMA model into .npy files; later processes map those instead of
    unpacking again (most of a second per job), and the identifier decides exactly as py3langid's own."""
    import lzma

    from pipeline.text import language

    texts = [VI, NO_DIACRITICS, CALENDAR, EN, FR, ZH, "Xin chào"]
    reference = language._identifier_from_package()
    monkeypatch.setattr(language, "_model_cache", lambda: tmp_path / "langid")
    language._identifier.cache_clear()
    try:
        first = language._identifier()
        assert sorted(p.name for p in (tmp_path / "langid").iterdir()) == sorted(
            f"{name}.npy" for name in language._MODEL_ARRAYS)
        language._identifier.cache_clear()

        def no_unpacking(*args, **kwargs):
            raise AssertionError("the model was unpacked again")

        monkeypatch.setattr(lzma, "open", no_unpacking)
        cached = language._identifier()
        for identifier in (first, cached):
            assert identifier.nb_classes == reference.nb_classes
            for text in texts:
                assert identifier._decide(text[:2000]).tobytes() == reference._decide(text[:2000]).tobytes()
        assert [cached.classify(t)[0] for t in texts[3:6]] == ["en", "fr", "zh"]
    finally:
        language._identifier.cache_clear()


def test_unreadable_identifier_cache_is_rebuilt(tmp_path, monkeypatch):
    from pipeline.text import language

    folder = tmp_path / "langid"
    monkeypatch.setattr(language, "_model_cache", lambda: folder)
    language._identifier.cache_clear()
    try:
        language._identifier()
        (folder / "nextmove.npy").write_bytes(b"not an array")
        language._identifier.cache_clear()
        assert language._identifier().classify(EN)[0] == "en"
        assert (folder / "nextmove.npy").stat().st_size > 1000
    finally:
        language._identifier.cache_clear()
