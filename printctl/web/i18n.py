"""The console's words in Bahasa Indonesia (the default) and English.

Templates write English and call ``t("…")``; :data:`ID` holds the Indonesian for each,
including the state, role and reason codes the pages show. A test checks that every phrase
the templates use has its Indonesian, so a new label cannot ship untranslated. Messages from
the service layer (a refused batch's numbers) stay in the words the CLI uses.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from typing import Any

from jinja2 import pass_context
from jinja2.runtime import Context as JinjaContext

from printctl.stock.ledger import office_time

LANGUAGES = ("id", "en")

ID: dict[str, str] = {
    # menu and page titles
    "Console": "Konsol",
    "Dashboard": "Dasbor",
    "Ready records": "Data siap cetak",
    "Batches": "Batch",
    "Batch": "Batch",
    "Attention": "Perlu tindakan",
    "Stock": "Stok blangko",
    "Blank stock": "Stok blangko",
    "Printers": "Printer",
    "Audit log": "Log audit",
    "Users": "Pengguna",
    "Sign in": "Masuk",
    "Sign out": "Keluar",
    "User name": "Nama pengguna",
    "Password": "Kata sandi",
    "Station": "Stasiun",
    "Not allowed": "Tidak diizinkan",
    "Not found": "Tidak ditemukan",
    "Back to the dashboard": "Kembali ke dasbor",
    # dashboard
    "need a person": "perlu tindakan petugas",
    "cards waiting": "kartu menunggu",
    "printing now": "sedang dicetak",
    "blanks on hand": "blangko tersedia",
    "blanks in doubt": "blangko diragukan",
    "free": "bebas",
    "No printers are configured for this station.": "Belum ada printer untuk stasiun ini.",
    "Printing": "Mencetak",
    "job": "job",
    "Pauses after the card it is printing.": "Berhenti setelah kartu yang sedang dicetak.",
    "Ribbon": "Ribbon",
    "Hopper": "Hopper",
    "Cards today": "Kartu hari ini",
    "to inspect": "perlu diperiksa",
    "Batches in progress": "Batch berjalan",
    "No batch is open.": "Tidak ada batch terbuka.",
    "Create one from the ready records.": "Buat dari data siap cetak.",
    "State": "Status",
    "Progress": "Kemajuan",
    "Printed": "Tercetak",
    "printed": "tercetak",
    "Start printing": "Mulai cetak",
    "Pause": "Jeda",
    "Updated": "Diperbarui",
    "unknown": "tidak diketahui",
    "low": "menipis",
    "panels": "panel",
    "blanks": "blangko",
    # records
    "District": "Kecamatan",
    "Request type": "Jenis permohonan",
    "all": "semua",
    "Waiting at least (days)": "Menunggu minimal (hari)",
    "Filter": "Saring",
    "records match": "data cocok",
    "free blanks": "blangko bebas",
    "on hand": "tersedia",
    "promised": "sudah dijatahkan",
    "Batch name": "Nama batch",
    "optional": "opsional",
    "At most (cards)": "Paling banyak (kartu)",
    "Not enough free blanks for every matching record.": "Blangko bebas tidak cukup untuk semua data yang cocok.",
    "Tick “only what the stock allows” to queue first-time cards first.": "Centang “sebatas stok” agar kartu baru didahulukan.",
    "only what the stock allows": "sebatas stok",
    "start printing now": "langsung mulai cetak",
    "Create batch": "Buat batch",
    "Oldest first": "Terlama lebih dulu",
    "of": "dari",
    "No ready records match.": "Tidak ada data siap cetak yang cocok.",
    "Record": "Data",
    "Imported": "Diterima",
    # record
    "Holder": "Pemilik",
    "Opened for you; this was written to the audit log.": "Dibuka untuk Anda; tercatat di log audit.",
    "Open the full NIK": "Buka NIK lengkap",
    "Why is it needed?": "Untuk keperluan apa?",
    "Open (audited)": "Buka (tercatat)",
    "Personal data erased after the retention period.": "Data pribadi telah dihapus setelah masa simpan.",
    "Card": "Kartu",
    "Handed over": "Diserahkan",
    "Fingerprint checked by": "Sidik jari diperiksa oleh",
    "Hand over": "Serahkan",
    "Reprint requested by": "Cetak ulang diminta oleh",
    "Reprint": "Cetak ulang",
    "Evidence": "Bukti",
    "Reference (letter no., chip UID, KK no.)": "Nomor rujukan (surat, UID chip, no. KK)",
    "Request reprint": "Minta cetak ulang",
    "Approve reprint": "Setujui cetak ulang",
    "why refused": "alasan ditolak",
    "Refuse": "Tolak",
    "Jobs": "Job",
    "Job": "Job",
    "No job yet.": "Belum ada job.",
    "Printer": "Printer",
    "Attempts": "Percobaan",
    "Error": "Kesalahan",
    "Versions": "Versi",
    "police-letter": "Surat kehilangan dari kepolisian",
    "surrendered-card": "KTP-el rusak yang diserahkan",
    "family-card": "Kartu Keluarga terbaru",
    # batches
    "No batch yet.": "Belum ada batch.",
    "Created": "Dibuat",
    "created by": "dibuat oleh",
    "Cancel batch": "Batalkan batch",
    "Cancel the cards of this batch that have not started?": "Batalkan kartu batch ini yang belum dimulai?",
    # attention
    "Nothing needs a person right now.": "Tidak ada yang perlu ditindaklanjuti saat ini.",
    "Cards to inspect": "Kartu yang perlu diperiksa",
    "The outcome of these cards is unknown. Look in the printer's output tray and reject bin, then say what you found. A card is never printed again without this.": "Hasil kartu ini tidak diketahui. Periksa baki keluaran dan kotak reject printer, lalu catat temuan Anda. Kartu tidak akan dicetak ulang tanpa ini.",
    "What did you find?": "Apa yang ditemukan?",
    "A good card (issued)": "Kartu baik (terbit)",
    "A spoiled card (to destroy)": "Kartu rusak (untuk dimusnahkan)",
    "No card: the blank is still in the hopper": "Tidak ada kartu: blangko masih di hopper",
    "Chip UID (if there is a card)": "UID chip (jika ada kartu)",
    "Note": "Catatan",
    "Stopped printers": "Printer berhenti",
    "Resume": "Lanjutkan",
    "Reprints awaiting approval": "Cetak ulang menunggu persetujuan",
    "Requested by": "Diminta oleh",
    "not yet requested": "belum diminta",
    "Stock decisions awaiting a supervisor": "Keputusan stok menunggu supervisor",
    "Kind": "Jenis",
    "Location": "Lokasi",
    "Quantity": "Jumlah",
    "Reason": "Alasan",
    "Proposed by": "Diusulkan oleh",
    "Approve": "Setujui",
    "Count differences": "Selisih hitung",
    "Counted": "Dihitung",
    "Ledger": "Buku stok",
    "By": "Oleh",
    "A supervisor resolves count differences with: printctl stock resolve-count": "Supervisor menyelesaikan selisih hitung dengan: printctl stock resolve-count",
    "Failed jobs": "Job gagal",
    "Held jobs": "Job ditahan",
    "Release": "Lepaskan",
    # stock
    "in the vault": "di brankas",
    "hopper": "hopper",
    "vault": "brankas",
    "in doubt": "diragukan",
    "free for new batches": "bebas untuk batch baru",
    "Totals": "Jumlah",
    "Received": "Diterima",
    "Issued": "Terbit",
    "Spoiled": "Rusak",
    "Returned to the province": "Dikembalikan ke provinsi",
    "Papers": "Dokumen",
    "Day": "Hari",
    "Month": "Bulan",
    "Daily statement (PDF)": "Laporan harian (PDF)",
    "Monthly report (PDF)": "Laporan bulanan (PDF)",
    "Destruction record": "Berita acara pemusnahan",
    "Ledger (CSV)": "Buku stok (CSV)",
    "Receive a delivery": "Terima kiriman",
    "Blanks": "Blangko",
    "Lot": "Lot",
    "Delivery document": "Dokumen kiriman",
    "First serial": "Nomor seri awal",
    "Last serial": "Nomor seri akhir",
    "Receive": "Terima",
    "Load a printer": "Isi printer",
    "Record the load": "Catat pengisian",
    "Count": "Hitung fisik",
    "Record the count": "Catat hitungan",
    "Close the day": "Tutup hari",
    "A closed day cannot be changed. Close it?": "Hari yang ditutup tidak dapat diubah. Tutup sekarang?",
    # printers
    "Counter": "Penghitung",
    "Test print": "Cetak uji",
    "The test card uses one blank. Print it?": "Kartu uji memakai satu blangko. Cetak?",
    # audit
    "Who": "Siapa",
    "Action (starts with)": "Tindakan (diawali)",
    "Action": "Tindakan",
    "Entity": "Objek",
    "Id": "Id",
    "Text in detail": "Teks di rincian",
    "From": "Dari",
    "Before": "Sebelum",
    "Search": "Cari",
    "Export CSV": "Ekspor CSV",
    "events, newest first": "kejadian, terbaru lebih dulu",
    "When": "Waktu",
    "Outcome": "Hasil",
    "Detail": "Rincian",
    # users
    "Name": "Nama",
    "Role": "Peran",
    "Last login": "Terakhir masuk",
    "disabled": "nonaktif",
    "active": "aktif",
    "Enable": "Aktifkan",
    "Disable": "Nonaktifkan",
    "Add a user": "Tambah pengguna",
    "First password (10+ characters)": "Kata sandi awal (10+ karakter)",
    "Add": "Tambah",
    # roles
    "operator": "operator",
    "supervisor": "supervisor",
    "technician": "teknisi",
    "auditor": "auditor",
    "admin": "admin",
    # states (printers, batches, jobs, records)
    "idle": "siaga",
    "processing": "diproses",
    "stopped": "berhenti",
    "open": "terbuka",
    "running": "berjalan",
    "paused": "dijeda",
    "done": "selesai",
    "canceled": "dibatalkan",
    "pending": "menunggu",
    "held": "ditahan",
    "completed": "selesai",
    "aborted": "gagal",
    "needs-inspection": "perlu diperiksa",
    "ready": "siap",
    "awaiting-approval": "menunggu persetujuan",
    "superseded": "digantikan",
    "queued": "dalam antrean",
    "printed-outdated": "tercetak (usang)",
    "failed": "gagal",
    "refused": "ditolak",
    # job steps
    "rendering": "menyiapkan gambar",
    "feeding": "mengambil blangko",
    "encoding": "mengisi chip",
    "printing": "mencetak",
    "ejecting": "mengeluarkan",
    "rejecting": "membuang ke reject",
    "spoiled": "rusak",
    # request types
    "NEW": "Baru",
    "REPLACE_LOST": "Pengganti hilang",
    "REPLACE_DAMAGED": "Pengganti rusak",
    "DATA_CHANGE": "Perubahan data",
    # spoil reasons and proposal kinds
    "encode-failed": "gagal encode chip",
    "print-failed": "gagal cetak",
    "damaged": "rusak fisik",
    "no-working-chip": "chip tidak berfungsi",
    "data-changed": "perubahan elemen data",
    "returned-by-holder": "dikembalikan pemegang",
    "test-print": "cetak uji",
    "adjust": "penyesuaian",
    "destroy": "pemusnahan",
    "explain-counter": "penjelasan penghitung",
    # what to do about a stopped printer (printctl.web.views.PRINTER_ACTIONS)
    "Inspect the card in doubt (Attention), then resume.": "Periksa kartu yang diragukan (Perlu tindakan), lalu lanjutkan.",
    "Open the printer, take the jammed card out, close it, then resume.": "Buka printer, keluarkan kartu yang macet, tutup kembali, lalu lanjutkan.",
    "Put blanks in the hopper and record the load (Stock), then resume.": "Isi blangko ke hopper dan catat pengisiannya (Stok), lalu lanjutkan.",
    "Record a hopper load (Stock → Load); the printer goes on by itself.": "Catat pengisian hopper (Stok → Isi); printer lanjut sendiri.",
    "Fit a new ribbon, then resume.": "Pasang ribbon baru, lalu lanjutkan.",
    "Close the printer's cover; it goes on by itself.": "Tutup penutup printer; printer lanjut sendiri.",
    "Empty the reject bin (count the cards in it), then resume.": "Kosongkan kotak reject (hitung kartunya), lalu lanjutkan.",
    "Check the printer's power and cable, then resume.": "Periksa daya dan kabel printer, lalu lanjutkan.",
    "The printer is resting after its duty cycle; it goes on by itself.": "Printer beristirahat setelah siklus kerja; lanjut sendiri.",
    "Check the chip encoder and its cable, then resume.": "Periksa encoder chip dan kabelnya, lalu lanjutkan.",
    "Several cards failed in a row: check the ribbon and the blanks, then resume.": "Beberapa kartu berturut-turut gagal: periksa ribbon dan blangko, lalu lanjutkan.",
    "Read the reason; if it is not clear, call the technician.": "Baca alasannya; jika tidak jelas, hubungi teknisi.",
    "Call the technician: printctl stopped on an internal error.": "Hubungi teknisi: printctl berhenti karena kesalahan internal.",
    "Paused by a person: resume when ready.": "Dijeda oleh petugas: lanjutkan bila siap.",
    "The printer goes on by itself once the condition clears.": "Printer lanjut sendiri setelah kondisinya pulih.",
    "Read the reason, fix it, then resume.": "Baca alasannya, perbaiki, lalu lanjutkan.",
    # login messages (printctl.users, printctl.web.console)
    "wrong name or password": "nama atau kata sandi salah",
    "The login form expired: please try again.": "Formulir masuk kedaluwarsa: silakan coba lagi.",
}


def translator(language: str) -> Callable[[str], str]:
    """``t`` for ``language``: Indonesian from :data:`ID`, English as written."""
    if language != "id":
        return lambda text: text
    return lambda text: ID.get(text, text)


def context(language: str) -> dict[str, Any]:
    """What every template gets for its language."""
    return {"t": translator(language), "lang": language}


def local_time(moment: datetime | None) -> str:
    """A stored (UTC) time in the office's zone, to the minute."""
    if moment is None:
        return "—"
    return office_time(moment).strftime("%Y-%m-%d %H:%M")


@pass_context
def number(ctx: JinjaContext, value: Any) -> str:
    """A count with the language's thousands separator (12.345 in Indonesian)."""
    if not isinstance(value, int):
        return "—" if value is None else str(value)
    text = f"{value:,}"
    return text.replace(",", ".") if ctx.get("lang") == "id" else text
