"""Synthetic Vietnamese articles for load and reliability tests (our own word lists, seeded).

The sentences are grammatical enough for the sentence splitter, the language check and the topic
model to treat them as news; their content is random, so tests must not assert their topics.
"""

from __future__ import annotations

import random

SUBJECTS = ["Ủy ban nhân dân thành phố", "Đội tuyển quốc gia", "Các nhà khoa học", "Bộ Y tế", "Ngân hàng Nhà nước",
            "Công an tỉnh", "Nhóm kỹ sư trẻ", "Nhà hát lớn", "Người dân ven biển", "Doanh nghiệp xuất khẩu"]
VERBS = ["vừa công bố", "đã triển khai", "đang chuẩn bị", "cho biết sẽ mở rộng", "kêu gọi tăng cường",
         "tổ chức hội nghị về", "hoàn thành", "đề xuất điều chỉnh"]
OBJECTS = ["kế hoạch phát triển giao thông", "chương trình tiêm chủng mở rộng", "giải đấu bóng đá khu vực",
           "phần mềm quản lý dữ liệu", "lễ hội văn hóa truyền thống", "chính sách hỗ trợ nông dân",
           "dự án năng lượng tái tạo", "chiến dịch phòng chống lừa đảo", "nghiên cứu về đa dạng sinh học"]
TAILS = ["trong năm nay", "vào tháng tới", "với tổng kinh phí hơn 200 tỷ đồng", "theo đề nghị của các chuyên gia",
         "nhằm nâng cao chất lượng cuộc sống", "sau nhiều tháng chuẩn bị", "tại nhiều tỉnh thành"]


def sentence(rng: random.Random) -> str:
    return f"{rng.choice(SUBJECTS)} {rng.choice(VERBS)} {rng.choice(OBJECTS)} {rng.choice(TAILS)}."


def article(rng: random.Random, index: int, sentences: int = 6) -> dict:
    body = "\n".join(" ".join(sentence(rng) for _ in range(2)) for _ in range(sentences // 2))
    return {"id": f"art-{index:06d}", "title": sentence(rng).rstrip("."), "text": body, "n": index}


def articles(count: int, seed: int = 7) -> list[dict]:
    rng = random.Random(seed)
    return [article(rng, i) for i in range(count)]
